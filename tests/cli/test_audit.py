"""``cartgroups audit list|prune`` on SQLite and PostgreSQL, run in-process with typer's CliRunner
(tests/cli/test_db.py runs real commands)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import audit as audit_sql
from tests.api.support import COLLECTION, item_path
from tests.cli.procs import Result
from tests.conftest import STORE, LiveServer, create_group, headers_for, plain_client


def cli(database_url: str, *args: str, **env: str) -> Result:
    settings = {"CARTGROUPS_DATABASE_URL": database_url, "CARTGROUPS_AUDIT_RETENTION_DAYS": "90"}
    result = CliRunner().invoke(app, list(args), env={**settings, "COLUMNS": "250", **env})
    return Result(args, result.exit_code, result.stdout, result.stderr)


def _history(server: LiveServer, api: httpx.Client, issue: Callable[..., Issued], creds: Issued) -> None:
    """Store STORE: create 1 and 2, update 1 (MinimumOrder 1.50), bulk-update 2, delete 2; another
    application creates 3. Another store has a group 1 of its own."""
    api.post(COLLECTION, json={"Name": "Wholesale"})
    create_group(api, Name="Retail")
    assert api.put(item_path(1), content=b'{"MinimumOrder":1.50}').status_code == 200
    assert api.put(COLLECTION, json=[{"CustomerGroupID": 2, "Name": "Retail 2"}]).status_code == 200
    assert api.delete(item_path(2)).status_code == 200
    other_app = issue(app="importer")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other_app)) as importer:
        create_group(importer, Name="Imported")
    other_store = issue(store="elsewhere.example.com")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other_store, creds.private_key)) as c:
        create_group(c, Name="Not yours")


def test_list_with_each_filter_as_json_and_as_a_table(
    server: LiveServer,
    api: httpx.Client,
    issue: Callable[..., Issued],
    creds: Issued,
    database_url: str,
    tmp_path: Path,
) -> None:
    _history(server, api, issue, creds)
    listing = ("audit", "list", "--store", "https://www.Shop.Example.com/", "--json")
    commands = [
        listing,
        (*listing, "--group", "2"),
        (*listing, "--app", "importer"),
        (*listing, "--action", "delete"),
        (*listing, "--limit", "2"),
        (*listing, "--since", "2000-01-01", "--until", "2000-01-02"),
        (*listing, "--since", "2000-01-01T00:00:00+02:00"),
        listing[:-1],
    ]
    results = [cli(database_url, *command).ok() for command in commands]
    every, by_group, by_app, deletes, newest, old_day, since_2000, table = (
        json.loads(r.out, parse_float=Decimal) if r is not results[-1] else r.out for r in results
    )
    assert [(e["action"], e["group_id"], e["bulk"], e["application"]) for e in every] == [
        ("create", 3, False, "importer"),
        ("delete", 2, False, "default"),
        ("update", 2, True, "default"),
        ("update", 1, False, "default"),
        ("create", 2, False, "default"),
        ("create", 1, False, "default"),
    ]
    assert {e["store"] for e in every} == {STORE}
    assert all(e["token_id"] == creds.token_id for e in every[1:])
    assert every[3]["before"]["MinimumOrder"] == Decimal("0.0")
    assert str(every[3]["after"]["MinimumOrder"]) == "1.50"  # exact, as stored
    assert every[1]["after"] is None and every[5]["before"] is None
    assert every[1]["before"]["Name"] == "Retail 2"
    assert all(e["time"].endswith("Z") for e in every)
    assert [e["group_id"] for e in by_group] == [2, 2, 2]
    # Each entry names its resource and item; "group_id" is kept for the scripts that read it.
    assert all(e["resource"] == "CustomerGroup" and e["item_id"] == e["group_id"] for e in every)
    assert list(every[0]) == [
        "id",
        "time",
        "store",
        "application",
        "token_id",
        "action",
        "bulk",
        "resource",
        "item_id",
        "group_id",
        "before",
        "after",
    ]
    assert [e["group_id"] for e in by_app] == [3]
    assert [e["action"] for e in deletes] == ["delete"]
    assert newest == every[:2]
    assert old_day == []
    assert since_2000 == every
    assert "Audit log of shop.example.com" in table
    assert "MinimumOrder: 0.0 -> 1.50" in table
    assert "update (bulk)" in table and "importer" in table
    assert "Not yours" not in table


def test_prune_deletes_what_is_older_than_the_retention(
    server: LiveServer, api: httpx.Client, database_url: str, tmp_path: Path
) -> None:
    create_group(api)
    store_id = credentials.store_id_of(server.db, STORE)
    with server.db.write() as conn:
        for days in (200, 100, 40):
            change = audit_sql.Change("delete", 9, None, None)
            at = audit_sql.now() - timedelta(days=days)
            audit_sql.record(
                conn, store_id=store_id, actor=audit_sql.Actor(None, None), changes=[change], at=at
            )
    default = cli(database_url, "audit", "prune")
    assert default.ok().out.startswith("Deleted 2 audit entries made before ")
    thirty = cli(database_url, "audit", "prune", "--days", "30").ok()
    assert thirty.out.startswith("Deleted 1 audit entries made before ") and "(30 days)" in thirty.out
    forever = cli(database_url, "audit", "prune", CARTGROUPS_AUDIT_RETENTION_DAYS="0").ok()
    assert forever.out == "The audit retention is 0 days, which keeps entries forever: nothing pruned.\n"
    with server.db.read() as conn:
        left = audit_sql.list_entries(conn, store_id=store_id, limit=10)
    assert [e.action for e in left] == ["create"]


def test_errors_are_one_line(
    server: LiveServer, api: httpx.Client, database_url: str, tmp_path: Path
) -> None:
    create_group(api)
    listing = ("audit", "list", "--store", STORE)
    cases = {
        "error: unknown store 'nowhere.example.com'": ("audit", "list", "--store", "nowhere.example.com"),
        "error: --action must be one of create, update, delete (got 'edit')": (*listing, "--action", "edit"),
        "error: --limit must be from 1 to 100000 (got 0)": (*listing, "--limit", "0"),
        "error: --resource must be one of CustomerGroup, Customer (got 'Order')": (
            *listing,
            "--resource",
            "Order",
        ),
        "error: give --group or --customer, not both": (*listing, "--group", "1", "--customer", "1"),
        "error: --group lists CustomerGroup entries; it cannot be combined with --resource Customer": (
            *listing,
            "--resource",
            "customer",
            "--group",
            "1",
        ),
        "error: --customer lists Customer entries; it cannot be combined with --resource CustomerGroup": (
            *listing,
            "--resource",
            "CustomerGroup",
            "--customer",
            "1",
        ),
        "error: --since must be an ISO 8601 time such as 2026-11-28 or 2026-11-28T14:30:00Z "
        "(got 'yesterday')": (*listing, "--since", "yesterday"),
        "error: invalid setting audit_retention_days (CARTGROUPS_AUDIT_RETENTION_DAYS or its flag): "
        "Input should be greater than or equal to 0": ("audit", "prune", "--days", "-1"),
    }
    assert [cli(database_url, *command).one_line_error() for command in cases.values()] == list(cases)


def test_customer_entries_beside_group_entries_by_resource_and_id(
    server: LiveServer, api: httpx.Client, database_url: str
) -> None:
    """Store STORE: groups 1 and 2 created through the API; customer 2 created and updated (its
    entries written as any resource's are, audit.entry_for)."""
    create_group(api, Name="One")
    create_group(api, Name="Two")
    store_id = credentials.store_id_of(server.db, STORE)
    actor = audit_sql.Actor(None, "crm")
    customer = '{"CustomerID":2,"Email":"a@example.com"}'
    changed = '{"CustomerID":2,"Email":"b@example.com"}'
    with server.db.write() as conn:
        audit_sql.record_entries(
            conn,
            [
                audit_sql.entry_for(
                    store_id,
                    actor,
                    resource="Customer",
                    action="create",
                    item_id=2,
                    before=None,
                    after=customer,
                )
            ],
        )
        audit_sql.record_entries(
            conn,
            [
                audit_sql.entry_for(
                    store_id,
                    actor,
                    resource="Customer",
                    action="update",
                    item_id=2,
                    before=customer,
                    after=changed,
                )
            ],
        )
    listing = ("audit", "list", "--store", STORE, "--json")

    def listed(*args: str) -> list[dict[str, object]]:
        return list(json.loads(cli(database_url, *listing, *args).ok().out))

    every = listed()
    assert [(e["resource"], e["item_id"], e["action"]) for e in every] == [
        ("Customer", 2, "update"),
        ("Customer", 2, "create"),
        ("CustomerGroup", 2, "create"),
        ("CustomerGroup", 1, "create"),
    ]
    # "group_id" only on group entries; a customer's entry has its JSON as written.
    assert ["group_id" in e for e in every] == [False, False, True, True]
    assert every[0]["before"] == {"CustomerID": 2, "Email": "a@example.com"}
    assert every[0]["after"] == {"CustomerID": 2, "Email": "b@example.com"}
    customers = every[:2]
    groups = every[2:]
    for spelling in ("Customer", "customer", "CUSTOMER"):
        assert listed("--resource", spelling) == customers
    for spelling in ("CustomerGroup", "customergroup"):
        assert listed("--resource", spelling) == groups
    assert listed("--customer", "2") == customers
    assert listed("--customer", "2", "--resource", "Customer") == customers
    assert listed("--customer", "1") == []
    assert listed("--group", "2") == [every[2]]  # group 2's, not customer 2's
    assert listed("--group", "2", "--resource", "customergroup") == [every[2]]
    assert listed("--resource", "Customer", "--action", "create") == [every[1]]

    table = cli(database_url, *listing[:-1]).ok().out
    assert "resource" in table and "Customer " in table and "CustomerGroup" in table
    assert 'Email: "a@example.com" -> "b@example.com"' in table
    assert "CustomerID" not in table  # the id is its own column, as a group's is

    csv_out = cli(database_url, *listing[:-1], "--format", "csv").ok().out.splitlines()
    assert (
        csv_out[0] == "id,time,store,application,token_id,action,bulk,resource,item_id,group_id,before,after"
    )
    assert ",Customer,2,," in csv_out[1]  # no group_id for a customer's entry
    assert ",CustomerGroup,2,2," in csv_out[3]
