"""PostgreSQL: the store of storage/store.py on psycopg's async API and a connection pool."""
