"""Has anything been committed to the database since a moment ago? One look per request.

On SQLite ``PRAGMA data_version`` on a process's read connection moves whenever any other
connection commits to the file: a write of this process (made on its write connections, never
on the read one), of another server process, of the CLI, a restore. Two things of a server
process keep what they read until it moves: the read cache (storage/read_cache.py) and the
Authenticator's verified credentials (service/credentials.py). They share one look per request,
taken by the API before it verifies the credentials and passed to both: on a busy server the
first look of a request costs several microseconds (measured with py-spy: ~14 % of a cached
GET by id when the two asked apart), a second one nearly as much.

PostgreSQL has no such cheap, exact question (and may be written from other hosts): ``look()``
answers None there, and those who keep things poll instead."""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

from cartgroups.storage import dialect
from cartgroups.storage.database import Database

_SERIALS = itertools.count(1)


class Commits:
    """``look()`` -> a token that changes whenever anything was committed since the last look (on
    SQLite; None on PostgreSQL). Tokens are compared for equality only. One object serves one
    thread (the server's event loop): the version belongs to that thread's read connection."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.exact = db.dialect_name == "sqlite"
        # A cursor straight on the driver's read connection: asked through Database.read() and
        # SQLAlchemy the look took 3.2 us, directly 1.7 us (measured in-process, issue #3).
        self._raw: Any = None
        self._cursor: Any = None
        self._serial = 0  # of the connection the cursor is on

    def look(self) -> Hashable:
        """The database's change token now. Take it before reading what it guards, so that a
        commit in between shows at the next look. Raises DatabaseUnavailable on an outage."""
        if not self.exact:
            return None
        try:
            version = self._cursor.execute("PRAGMA data_version").fetchone()[0]
        except Exception:  # first use, or the connection broke
            version = self._reconnect()
        return (self._serial, version)

    def _reconnect(self) -> int | None:
        """The version read through the database's read connection (which reports an outage as
        DatabaseUnavailable and replaces a broken connection), its cursor kept to be asked
        directly next time. A new connection's versions count afresh: the token's serial tells
        them from the old one's."""
        with self.db.read() as conn:
            version = dialect.data_version(conn)
        raw = dialect.driver(conn)
        if raw is not self._raw:
            self._raw, self._cursor, self._serial = raw, raw.cursor(), next(_SERIALS)
        return version
