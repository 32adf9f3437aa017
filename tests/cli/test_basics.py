"""--help, --version, and one-line errors for bad configuration, through the real command."""

from __future__ import annotations

import re
from pathlib import Path

from cartgroups import __version__
from tests.cli.procs import CONSOLE_SCRIPT, finish, free_port, run, start


def test_help_and_version_through_python_m_and_the_console_script(tmp_path: Path) -> None:
    started = [
        start(["--help"], database_url=None, cwd=tmp_path),
        start(["--version"], database_url=None, cwd=tmp_path),
        start(["--version"], database_url=None, cwd=tmp_path, command=CONSOLE_SCRIPT),
    ]
    top, version, script = (finish(proc).ok() for proc in started)
    assert top.err == ""
    assert "Usage: cartgroups" in top.out
    for command in ("serve", "db", "credentials", "stores", "apps"):
        assert re.search(rf"^\W*{command}\s", top.out, re.M), command
    assert version.out == f"cartgroups {__version__}\n"
    assert script.out == f"cartgroups {__version__}\n"
    assert not (tmp_path / "cartgroups.db").exists(), "--help/--version must not open a database"


def test_configuration_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    good = f"sqlite:///{tmp_path / 'good.db'}"
    port = str(free_port())
    cases = [
        ("mysql://x", ["stores", "list"], {}, "mysql"),
        ("postgresql://user:secret@db:port/x", ["stores", "list"], {}, "cannot parse the database URL"),
        ("postgresql://127.0.0.1:1/x", ["serve", "--port", port], {}, "127.0.0.1"),
        # Tests run as root, so only a path that cannot be a file is sure to be unopenable.
        ("sqlite:////etc/passwd/x.db", ["db", "upgrade"], {}, "/etc/passwd/x.db"),
        (good, ["stores", "list"], {"CARTGROUPS_PORT": "abc"}, "CARTGROUPS_PORT"),
        (good, ["serve"], {"CARTGROUPS_WORKERS": "0"}, "CARTGROUPS_WORKERS"),
    ]
    started = [start(args, database_url=url, cwd=tmp_path, **env) for url, args, env, _ in cases]
    results = [finish(proc) for proc in started]
    for (url, args, _, mentions), result in zip(cases, results, strict=True):
        message = result.one_line_error()
        assert mentions in message, (url, args, message)
        assert "secret" not in message
    assert not (tmp_path / "good.db").exists(), "an invalid setting must stop before the database"


def test_database_flag_overrides_the_environment(tmp_path: Path) -> None:
    result = run(
        ["stores", "list", "--json", "--database", "postgresql://127.0.0.1:1/x"],
        database_url=f"sqlite:///{tmp_path / 'ignored.db'}",
        cwd=tmp_path,
    )
    assert "127.0.0.1" in result.one_line_error()
    assert not (tmp_path / "ignored.db").exists()
