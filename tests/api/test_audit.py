"""The audit log as the API's writes leave it: one entry per change (create, PUT by id, each
updated bulk item, delete) with who made it and the group before and after, written in the same
transaction as the change. Rejected and rolled-back requests leave none."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import httpx
import pytest

from cartgroups.json_net import escaped
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import customer_groups as store_sql
from cartgroups.storage.audit import Entry
from cartgroups.storage.database import Database
from cartgroups.storage.postgres.store import PostgresTx
from cartgroups.storage.sqlite.store import SqliteTx
from tests.api.support import (
    AWKWARD_AMOUNTS,
    COLLECTION,
    JSON,
    NO_WRITE,
    State,
    assert_error,
    awkward_group,
    item_path,
)
from tests.conftest import STORE, LiveServer, create_group, headers_for, plain_client

API = "/3dCartWebAPI/v1"


def entries(db: Database, store: str = STORE) -> list[Entry]:
    """The store's entries, oldest first."""
    store_id = credentials.store_id_of(db, store)
    with db.read() as conn:
        return list(reversed(audit_sql.list_entries(conn, store_id=store_id, limit=10_000)))


def wire_object(client: httpx.Client, group_id: int) -> str:
    """GET by id's one object, as the exact JSON text the API wrote."""
    response = client.get(item_path(group_id))
    assert response.status_code == 200
    return response.content.decode()[1:-1]


def as_wire(text: str | None) -> str | None:
    """An entry's JSON text with U+0085, U+2028 and U+2029 escaped as the API writes them
    (json_net.escaped). The log keeps the text orjson and SQLite write, the same JSON with those
    three raw: it is not read by 3dcart clients, and escaping it would cost every write."""
    return None if text is None else escaped(text.encode()).decode()


def tx_class(server: LiveServer) -> type[SqliteTx] | type[PostgresTx]:
    """The transaction class (storage/store.Tx) of the database under test: where a write's
    statements can be made to fail."""
    return SqliteTx if server.db.dialect_name == "sqlite" else PostgresTx


AUDIT_LOG_BROKEN = "the audit log is broken"
_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER audit_log_refuses BEFORE INSERT ON audit_log"
        f" BEGIN SELECT RAISE(ABORT, '{AUDIT_LOG_BROKEN}'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION audit_log_refuses() RETURNS trigger LANGUAGE plpgsql AS"
        f" $$ BEGIN RAISE EXCEPTION '{AUDIT_LOG_BROKEN}' USING ERRCODE = 'check_violation'; END $$",
        "CREATE TRIGGER audit_log_refuses BEFORE INSERT ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_refuses()",
    ],
}
_ACCEPT = {
    "sqlite": ["DROP TRIGGER audit_log_refuses"],
    "postgresql": ["DROP TRIGGER audit_log_refuses ON audit_log", "DROP FUNCTION audit_log_refuses()"],
}


@contextmanager
def audit_log_refusing_entries(db: Database) -> Iterator[None]:
    """While inside, the database itself refuses every new audit entry (a trigger raises), however
    the entry is written: on its own, or in one statement with its change (PostgreSQL's create)."""
    with db.write() as conn:
        for statement in _REFUSE[db.dialect_name]:
            conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        with db.write() as conn:
            for statement in _ACCEPT[db.dialect_name]:
                conn.exec_driver_sql(statement)


def who(entry: Entry) -> tuple[object, ...]:
    return (entry.token_id, entry.application, entry.action, entry.bulk, entry.item_id)


def test_each_change_is_recorded_with_who_and_the_exact_values_before_and_after(
    server: LiveServer, api: httpx.Client, creds: Issued
) -> None:
    response = api.post(COLLECTION, content=b'{"Name":"Wholesale","MinimumOrder":1.50}', headers=JSON)
    assert response.status_code == 201
    created = wire_object(api, 1)
    create_group(api, Name="Retail")
    retail = wire_object(api, 2)
    assert api.put(item_path(1), json={"Name": "Trade", "PriceLevel": 3}).status_code == 200
    updated = wire_object(api, 1)
    bulk = [{"CustomerGroupID": 2, "NonTaxable": True}, {"CustomerGroupID": 1, "Description": "d"}]
    assert api.put(COLLECTION, json=bulk).status_code == 200
    retail_bulk, trade_bulk = wire_object(api, 2), wire_object(api, 1)
    assert api.delete(item_path(2)).status_code == 200

    log = entries(server.db)
    token = creds.token_id
    assert [who(e) for e in log] == [
        (token, "default", "create", False, 1),
        (token, "default", "create", False, 2),
        (token, "default", "update", False, 1),
        (token, "default", "update", True, 1),  # a bulk update's items are written in id order
        (token, "default", "update", True, 2),
        (token, "default", "delete", False, 2),
    ]
    assert [(e.before, e.after) for e in log] == [
        (None, created),
        (None, retail),
        (created, updated),
        (updated, trade_bulk),
        (retail, retail_bulk),
        (retail_bulk, None),
    ]
    assert {e.resource for e in log} == {"CustomerGroup"}  # every path writes its resource
    assert '"MinimumOrder":1.50' in created  # the exact decimal, as the wire has it
    assert log[3].at == log[4].at  # one bulk request, one time
    assert [e.at for e in log] == sorted(e.at for e in log)


def test_entries_have_the_wire_bytes_of_every_kind_of_value(server: LiveServer, api: httpx.Client) -> None:
    """On SQLite the database writes the JSON of a create's and a PUT by id's entry itself
    (audit.record_create, record_update) while GET by id is written by orjson: the two must
    agree byte for byte on every kind of value, for a create, a PUT of every property and a PUT
    of some (the rest then come from the row)."""
    count = len(AWKWARD_AMOUNTS)
    for n in range(count):
        create_group(api, **awkward_group(n))
    created = [(None, wire_object(api, n + 1)) for n in range(count)]
    assert [(as_wire(e.before), as_wire(e.after)) for e in entries(server.db)] == created
    expected: list[tuple[str | None, str]] = []
    for n in range(count):
        group_id = n + 1
        for body in (awkward_group((n + 3) % count), {"Description": f"only {n}", "NonTaxable": n % 2 == 1}):
            before = wire_object(api, group_id)
            assert api.put(item_path(group_id), json=body).status_code == 200
            expected.append((before, wire_object(api, group_id)))
    assert [(as_wire(e.before), as_wire(e.after)) for e in entries(server.db)[count:]] == expected


def test_an_update_that_changes_nothing_is_recorded_with_equal_before_and_after(
    server: LiveServer, api: httpx.Client
) -> None:
    create_group(api)
    before = wire_object(api, 1)
    assert api.put(item_path(1), json={}).status_code == 200
    assert api.put(item_path(1), json={"Name": "Wholesale"}).status_code == 200
    assert [(e.action, e.before, e.after) for e in entries(server.db)[1:]] == [("update", before, before)] * 2


def test_an_id_named_twice_in_one_bulk_update_chains_its_before_and_after(
    server: LiveServer, api: httpx.Client
) -> None:
    create_group(api, Name="A")
    first = wire_object(api, 1)
    body = [{"CustomerGroupID": 1, "Name": "B"}, {"CustomerGroupID": 1, "Name": "C"}]
    assert api.put(COLLECTION, json=body).status_code == 200
    log = entries(server.db)[1:]
    middle = first.replace('"Name":"A"', '"Name":"B"')
    assert [(e.before, e.after) for e in log] == [(first, middle), (middle, wire_object(api, 1))]
    assert json.loads(log[1].after or "")["Name"] == "C"


def test_a_partly_applied_bulk_update_records_only_the_items_it_changed(
    server: LiveServer, api: httpx.Client
) -> None:
    create_group(api, Name="A")
    create_group(api, Name="B")
    body = [
        {"CustomerGroupID": 2, "Name": "B2"},
        {"CustomerGroupID": 9, "Name": "missing"},
        {"CustomerGroupID": 1, "PriceLevel": 2147483648},
        "not an object",
    ]
    assert api.put(COLLECTION, json=body).status_code == 206
    assert [who(e)[2:] for e in entries(server.db)] == [
        ("create", False, 1),
        ("create", False, 2),
        ("update", True, 2),
    ]


def test_rejected_writes_leave_no_entry(
    server: LiveServer, api: httpx.Client, creds: Issued, issue: Callable[..., Issued], state: State
) -> None:
    create_group(api)
    log, before = entries(server.db), state()
    rejected = [
        api.post(COLLECTION, json={"Description": "no name"}),
        api.post(COLLECTION, content=b"{not json", headers=JSON),
        api.put(item_path(1), json={"PriceLevel": 2147483648}),
        api.put(item_path(7), json={"Name": "nobody"}),
        api.put(item_path(0), json={"Name": "bad id"}),
        api.put(COLLECTION, json=[{"CustomerGroupID": 7, "Name": "x"}, {"Name": "no id"}]),
        api.put(COLLECTION, json=[]),
        api.delete(item_path(7)),
    ]
    assert [r.status_code for r in rejected] == [400, 400, 400, 404, 400, 400, 400, 404]
    reader = issue(scope="read")
    with plain_client(server.base_url + API, headers_for(reader, creds.private_key)) as read_only:
        assert_error(read_only.delete(item_path(1)), 401, NO_WRITE)
        assert_error(read_only.put(item_path(1), json={"Name": "x"}), 401, NO_WRITE)
    assert entries(server.db) == log
    assert state() == before


def test_a_bulk_update_that_fails_half_way_leaves_neither_changes_nor_entries(
    server: LiveServer, api: httpx.Client, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b", "c"):
        create_group(api, Name=name)
    log, before = entries(server.db), state()
    tx_type = tx_class(server)
    real_updates = tx_type.update_groups
    calls: list[int] = []

    async def failing_updates(
        self: SqliteTx | PostgresTx, *, store_id: int, changes: Sequence[tuple[int, Mapping[str, object]]]
    ) -> None:
        calls.extend(group_id for group_id, _values in changes)
        made = [change for change in changes if change[0] != 3]  # really made, in the transaction
        await real_updates(self, store_id=store_id, changes=made)  # type: ignore[arg-type]
        raise RuntimeError("simulated crash in the middle of a bulk update")  # every time it runs

    monkeypatch.setattr(tx_type, "update_groups", failing_updates)
    response = api.put(COLLECTION, json=[{"CustomerGroupID": n, "Name": f"new {n}"} for n in (1, 2, 3)])
    assert_error(response, 500, "An internal error occurred; it has been logged")
    monkeypatch.undo()
    assert calls[:3] == [1, 2, 3]  # two updates ran before the crash
    assert entries(server.db) == log
    assert state() == before


@pytest.mark.parametrize("write", ["create", "update", "bulk", "delete"])
def test_a_change_whose_entry_cannot_be_written_is_rolled_back(
    server: LiveServer, api: httpx.Client, state: State, caplog: pytest.LogCaptureFixture, write: str
) -> None:
    create_group(api)
    create_group(api)
    log, before = entries(server.db), state()
    with audit_log_refusing_entries(server.db):
        response = {
            "create": lambda: api.post(COLLECTION, json={"Name": "x"}),
            "update": lambda: api.put(item_path(1), json={"Name": "x"}),
            "bulk": lambda: api.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "x"}] * 2),
            "delete": lambda: api.delete(item_path(2)),
        }[write]()
    assert_error(response, 500, "An internal error occurred; it has been logged")
    assert AUDIT_LOG_BROKEN in caplog.text  # the entry's refusal, logged as the 500's cause
    assert state() == before
    assert entries(server.db) == log


def test_a_put_that_fails_after_its_entry_is_written_leaves_neither(
    server: LiveServer, api: httpx.Client, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PUT by id writes its change and its entry in one transaction: a failure after the entry
    is written takes both back. On SQLite the entry comes first (written from the row,
    audit.record_update), then the change, which fails here. Then the same PUT succeeds. (On
    PostgreSQL both are one statement, storage/postgres/store._update_recorded, which the
    database makes or refuses whole: test_a_change_whose_entry_cannot_be_written_is_rolled_back
    has it refused.)"""
    if server.db.dialect_name != "sqlite":
        pytest.skip("on PostgreSQL the change and its entry are one statement")
    create_group(api)
    log, before = entries(server.db), state()
    failed: list[str] = []

    def broken_update(*args: object, **kwargs: object) -> bool:
        failed.append("update")
        raise RuntimeError("the update is broken")

    monkeypatch.setattr(store_sql, "update_group", broken_update)  # SqliteTx.update_recorded's
    assert_error(
        api.put(item_path(1), json={"Name": "x"}), 500, "An internal error occurred; it has been logged"
    )
    monkeypatch.undo()
    assert failed and set(failed) == {"update"}  # twice: the batch runs again with savepoints
    assert state() == before
    assert entries(server.db) == log
    assert api.put(item_path(1), json={"Name": "x"}).status_code == 200
    assert [(e.action, json.loads(e.after or "")["Name"]) for e in entries(server.db)[len(log) :]] == [
        ("update", "x")
    ]


def test_entries_belong_to_the_store_whose_group_changed(
    server: LiveServer, api: httpx.Client, issue: Callable[..., Issued]
) -> None:
    other = issue(store="other.example.com", app="other-app")
    with plain_client(server.base_url + API, headers_for(other)) as other_api:
        assert create_group(other_api, Name="theirs") == 1  # the same id as ours
        assert create_group(api, Name="ours") == 1
        assert other_api.delete(item_path(1)).status_code == 200
    ours, theirs = entries(server.db), entries(server.db, "other.example.com")
    assert [(e.application, e.action) for e in ours] == [("default", "create")]
    assert [(e.application, e.token_id, e.action) for e in theirs] == [
        ("other-app", other.token_id, "create"),
        ("other-app", other.token_id, "delete"),
    ]
    assert '"Name":"ours"' in (ours[0].after or "")
    assert all('"Name":"theirs"' in (e.after or e.before or "") for e in theirs)
