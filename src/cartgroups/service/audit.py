"""The audit log (changes to customer groups and customers): reading it, indexing it by store,
and pruning it by age.

Indexing (storage/audit.py, index_new_entries) runs in every server process, on a background
thread, every second; what it has not indexed yet is read all the same.

Pruning runs (a) on demand, ``cartgroups audit prune``; (b) in every server process, on a
background thread that tries at start and then every few minutes, but does the work only when it
wins the shared "audit-prune" claim (maintenance table), which a process can win at most once an
hour in total, whatever the number of processes. Deleting is done in batches of a few thousand
rows, each its own short transaction, so writers wait at most one batch; two prunes at once
(say, the CLI and a server) are harmless: each deletes rows the other has not."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from cartgroups.errors import DatabaseUnavailable
from cartgroups.service import credentials
from cartgroups.storage import audit as audit_sql
from cartgroups.storage.audit import Action, Entry
from cartgroups.storage.database import Database

log = logging.getLogger("cartgroups.audit")

PRUNE_TASK = "audit-prune"
PRUNE_EVERY = timedelta(hours=1)  # the most often any process prunes
PRUNE_CHECK_SECONDS = 300.0  # how often each server process asks whether a prune is due
PRUNE_BATCH = 5000
INDEX_EVERY_SECONDS = 1.0  # how often each server process indexes new entries by store


@dataclass(frozen=True, slots=True)
class Filters:
    resource: str | None = None  # storage.audit.GROUP or CUSTOMER
    item_id: int | None = None
    application: str | None = None
    action: Action | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def list_entries(db: Database, *, secure_url: str, filters: Filters) -> list[Entry]:
    """One store's entries, newest first. An unknown store is NotFound."""
    store_id = credentials.store_id_of(db, secure_url)
    with db.read() as conn:
        return audit_sql.list_entries(
            conn,
            store_id=store_id,
            resource=filters.resource,
            item_id=filters.item_id,
            application=filters.application,
            action=filters.action,
            since=filters.since,
            until=filters.until,
            limit=filters.limit,
        )


def cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    return (now or audit_sql.now()) - timedelta(days=retention_days)


def prune(db: Database, *, older_than: datetime, stop: threading.Event | None = None) -> int:
    """Delete every entry made before ``older_than``, batch by batch; returns how many."""
    total = 0
    while stop is None or not stop.is_set():
        with db.write() as conn:
            deleted = audit_sql.prune_batch(conn, older_than=older_than, batch=PRUNE_BATCH)
        total += deleted
        if deleted < PRUNE_BATCH:
            break
    return total


def prune_if_due(
    db: Database, *, retention_days: int, now: datetime | None = None, stop: threading.Event | None = None
) -> int | None:
    """Prune when no process has in the last hour; None when it was not due (or not ours)."""
    if retention_days <= 0:
        return None
    at = now or audit_sql.now()
    try:
        with db.write() as conn:
            mine = audit_sql.claim_task(conn, task=PRUNE_TASK, at=at, not_since=at - PRUNE_EVERY)
    except sa.exc.IntegrityError:
        return None  # another process made the first-ever claim at the same moment
    if not mine:
        return None
    return prune(db, older_than=cutoff(retention_days, at), stop=stop)


class _Background:
    """A server process's thread that calls run_once() at start and then every ``every_seconds``
    until stopped; run_once must not raise."""

    name = "cartgroups-background"

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self._stop = threading.Event()
        self.attempted = threading.Event()  # set after each attempt (for tests and health checks)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.ask_to_stop()
        self.join(timeout)

    def ask_to_stop(self) -> None:
        """The thread ends after its current attempt (see join)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self.attempted.set()
            self._stop.wait(self.every_seconds)

    def run_once(self) -> int | None:
        raise NotImplementedError


class Pruner(_Background):
    """The server process's background pruning thread (see the module's docstring)."""

    name = "cartgroups-audit-prune"

    def __init__(self, db: Database, *, retention_days: int, check_seconds: float = PRUNE_CHECK_SECONDS):
        super().__init__(check_seconds)
        self.db = db
        self.retention_days = retention_days

    def start(self) -> None:
        if self.retention_days > 0:
            super().start()

    def run_once(self) -> int | None:
        """One attempt; never raises (a database outage is logged and retried next time)."""
        try:
            deleted = prune_if_due(self.db, retention_days=self.retention_days, stop=self._stop)
        except DatabaseUnavailable:
            log.warning("audit log not pruned: the database is unavailable; will try again")
            return None
        except Exception:
            log.exception("audit log not pruned: unexpected error; will try again")
            return None
        if deleted:
            log.info("audit log: pruned %d entries older than %d days", deleted, self.retention_days)
        return deleted


def index_new_entries(db: Database) -> int:
    """Bring the by-store index of the audit log up to date (storage/audit.py); returns how many
    entries it indexed. Looks first without taking the write lock: most calls find nothing."""
    with db.read() as conn:
        if not audit_sql.unindexed(conn):
            return 0
    total = 0
    while True:
        with db.write() as conn:
            added = audit_sql.index_new_entries(conn)
        total += added
        if added < audit_sql.INDEX_BATCH:
            return total


class Indexer(_Background):
    """The server process's thread that indexes new audit entries by store every second or so.
    Every process runs one; when several find work at once, one does it and the others find
    none left. Until it runs, readers find the new entries all the same (only more slowly)."""

    name = "cartgroups-audit-index"

    def __init__(self, db: Database, *, every_seconds: float = INDEX_EVERY_SECONDS) -> None:
        super().__init__(every_seconds)
        self.db = db
        self._failing = False

    def run_once(self) -> int | None:
        """One attempt; never raises. An outage is logged once, not every second."""
        try:
            added = index_new_entries(self.db)
        except Exception as exc:
            if not self._failing:
                if isinstance(exc, DatabaseUnavailable):
                    log.warning("audit log not indexed: the database is unavailable; will keep trying")
                else:
                    log.exception("audit log not indexed: unexpected error; will keep trying")
            self._failing = True
            return None
        if self._failing:
            log.info("audit log: indexing works again")
        self._failing = False
        return added
