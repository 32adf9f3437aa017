"""A handle on one database: the engine, and read and write transactions that report outages
as DatabaseUnavailable instead of driver errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.errors import DatabaseUnavailable
from cartgroups.storage import dialect


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = dialect.parse_url(url)
        self.description = dialect.describe(self.url)
        self.engine = dialect.create_engine(self.url, sqlite_synchronous=sqlite_synchronous)

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot for the statements inside it)."""
        with translated(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        On SQLite it takes the write lock when it begins, so it waits for other writers
        instead of failing half-way with "database is locked"."""
        with translated(), self.engine.connect() as conn, dialect.writing(conn).begin():
            yield conn

    def ping(self) -> bool:
        try:
            with self.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except DatabaseUnavailable:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        if dialect.is_unavailable(exc):
            raise DatabaseUnavailable("The database is unavailable right now; try again shortly") from exc
        raise
