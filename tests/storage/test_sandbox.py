"""SQL of the sandbox (SQLite and PostgreSQL): the next-N counter under concurrency, journal
trimming per store, resets, and the throttling override."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from cartgroups.storage import customer_groups as group_sql
from cartgroups.storage import sandbox as sql
from cartgroups.storage.database import Database
from tests.storage.conftest import group_values, new_store

RULE = {"method": "*", "path": "*", "regex": False, "status": 503, "latency_ms": 0, "probability": 1.0}


def _entry(n: int) -> dict[str, object]:
    return {
        "at": datetime(2026, 11, 28, 12, 0, n, 123456, tzinfo=UTC),
        "method": "GET",
        "path": "/3dCartWebAPI/v1/CustomerGroups",
        "query": f"offset={n}",
        "status": 200,
        "request_headers": "{}",
        "request_body": "",
        "response_body": "[]",
        "duration_ms": 1.5,
        "fault_id": None,
    }


def test_a_next_n_rule_is_claimed_exactly_n_times_by_concurrent_writers(db: Database) -> None:
    with db.write() as conn:
        fault_id = sql.insert_fault(conn, values={**RULE, "remaining": 5})
    threads, tries = 6, 10
    barrier = threading.Barrier(threads)

    def claim(_: int) -> int:
        own = Database(db.url.render_as_string(hide_password=False))  # its own connections
        try:
            barrier.wait(timeout=30)
            won = 0
            for _ in range(tries):
                with own.write() as conn:
                    won += sql.claim_fault(conn, fault_id=fault_id)
            return won
        finally:
            own.dispose()

    with ThreadPoolExecutor(threads) as pool:
        assert sum(pool.map(claim, range(threads))) == 5
    with db.read() as conn:
        assert sql.list_faults(conn) == []  # expired rules are deleted


def test_an_unlimited_rule_counts_its_applications(db: Database) -> None:
    with db.write() as conn:
        fault_id = sql.insert_fault(conn, values={**RULE, "remaining": None})
        assert all(sql.claim_fault(conn, fault_id=fault_id) for _ in range(3))
    with db.read() as conn:
        [rule] = sql.list_faults(conn)
    assert (rule.id, rule.remaining, rule.applied, rule.regex, rule.probability) == (
        fault_id,
        None,
        3,
        False,
        1.0,
    )


def test_the_journal_keeps_the_newest_entries_of_each_store(db: Database) -> None:
    one, two = new_store(db, "one.example.com"), new_store(db, "two.example.com")
    with db.write() as conn:
        for n in range(6):
            sql.append_journal(conn, store_id=one, entry=_entry(n), keep=3)
        sql.append_journal(conn, store_id=two, entry=_entry(9), keep=3)
    with db.read() as conn:
        kept = sql.read_journal(conn, store_id=one, limit=10)
        assert [row.query for row in kept] == ["offset=5", "offset=4", "offset=3"]
        assert kept[0].at.replace(tzinfo=kept[0].at.tzinfo or UTC) == datetime(
            2026, 11, 28, 12, 0, 5, 123456, tzinfo=UTC
        )
        assert [row.query for row in sql.read_journal(conn, store_id=one, limit=1)] == ["offset=5"]
        assert [row.query for row in sql.read_journal(conn, store_id=two, limit=10)] == ["offset=9"]
    with db.write() as conn:
        assert sql.clear_journal(conn, store_id=one) == 3
    with db.read() as conn:
        assert sql.read_journal(conn, store_id=one, limit=10) == []
        assert len(sql.read_journal(conn, store_id=two, limit=10)) == 1


def test_resets_and_the_throttling_override(db: Database) -> None:
    one, two = new_store(db, "one.example.com"), new_store(db, "two.example.com")
    with db.write() as conn:
        for store in (one, two):
            group_sql.insert_group(conn, store_id=store, values=group_values())
            sql.append_journal(conn, store_id=store, entry=_entry(1), keep=10)
            sql.set_throttle(conn, store_id=store, throttle=store == one)
            sql.insert_fault(conn, values={**RULE, "store_id": store})
        sql.insert_fault(conn, values=RULE)
        assert sql.all_throttles(conn) == {one: True, two: False}
        sql.reset_store(conn, store_id=one)
    with db.read() as conn:
        assert sql.all_groups(conn, store_id=one) == []
        assert [g.group_id for g in sql.all_groups(conn, store_id=two)] == [1]
        assert sql.read_journal(conn, store_id=one, limit=10) == []
        assert (sql.get_throttle(conn, store_id=one), sql.get_throttle(conn, store_id=two)) == (None, False)
        assert [f.store_id for f in sql.list_faults(conn)] == [two, None]
    with db.write() as conn:
        assert group_sql.insert_group(conn, store_id=one, values=group_values()) == 1
        sql.set_throttle(conn, store_id=two, throttle=None)
        assert sql.reset_all(conn) == 2
    with db.read() as conn:
        assert sql.list_faults(conn) == [] and sql.all_throttles(conn) == {}
        assert sql.all_groups(conn, store_id=one) == sql.all_groups(conn, store_id=two) == []
        assert sql.read_journal(conn, store_id=two, limit=10) == []
