from cartgroups.cli import main

main()
