"""SQLite: the store of storage/store.py on SQLite, and its group commit."""
