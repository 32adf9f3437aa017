"""``cartgroups customers ...`` on SQLite and PostgreSQL, run in-process with typer's CliRunner
against the live server's database (the server fixture empties it first)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.service.credentials import Issued
from cartgroups.storage import tables
from tests.cli.procs import Result
from tests.conftest import STORE, LiveServer, create_group, db_state, headers_for, plain_client

OTHER = "elsewhere.example.com"
NO_GROUP = "CustomerGroupID must be 0 or a customer group of this store (there is no group {})"
HEADER = (
    "CustomerID,Email,Password,BillingCompany,BillingFirstName,BillingLastName,BillingAddress1,"
    "BillingAddress2,BillingCity,BillingState,BillingZipCode,BillingCountry,BillingPhoneNumber,"
    "BillingTaxID,ShippingCompany,ShippingFirstName,ShippingLastName,ShippingAddress1,ShippingAddress2,"
    "ShippingCity,ShippingState,ShippingZipCode,ShippingCountry,ShippingPhoneNumber,ShippingAddressType,"
    "CustomerGroupID,Enabled,MailList,NonTaxable,DisableBillingSameAsShipping,Comments,AdditionalField1,"
    "AdditionalField2,AdditionalField3,TotalStoreCredit,ResetPassword"
)


def cli(database_url: str, *args: str, store: str = STORE, input: str | None = None) -> Result:
    env = {"CARTGROUPS_DATABASE_URL": database_url, "CARTGROUPS_SECURE_URL": store, "COLUMNS": "250"}
    result = CliRunner().invoke(app, ["customers", *args], env=env, input=input)
    assert "Traceback" not in result.stderr
    return Result(args, result.exit_code, result.stdout, result.stderr)


def listed(database_url: str, *args: str, store: str = STORE) -> list[dict[str, object]]:
    rows = json.loads(cli(database_url, "list", "--json", *args, store=store).ok().out, parse_float=Decimal)
    assert isinstance(rows, list)
    return rows


def rejected(database_url: str, server: LiveServer, *args: str, input: str | None = None) -> str:
    """Run a command that must fail with exit 1 and one error line, changing nothing."""
    before = db_state(server.db)
    result = cli(database_url, *args, input=input)
    assert db_state(server.db) == before
    return result.one_line_error()


def other_store_group(server: LiveServer, issue: Callable[..., Issued], creds: Issued) -> int:
    """A group of the other store: id 2 there, while this store has at most group 1."""
    other = issue(store=OTHER)
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other, creds.private_key)) as client:
        create_group(client, Name="First")
        return create_group(client, Name="Not yours")


def password_hashes(server: LiveServer) -> dict[str, str | None]:
    with server.db.read() as conn:
        rows = conn.execute(sa.select(tables.customers.c.email, tables.customers.c.password_hash)).all()
    return {email: hashed for email, hashed in rows}


def test_create_get_list_update_delete(
    server: LiveServer, api: httpx.Client, database_url: str, tmp_path: Path
) -> None:
    group = create_group(api, Name="Wholesale")
    one = cli(database_url, "create", "--email", "Ann@Example.com ", "--first-name", "Ann", "--city", "Paris")
    assert one.ok().out == "1\n"
    document = tmp_path / "bob.json"
    document.write_text(json.dumps({"Email": "bob@example.com", "BillingLastName": "Doe", "Comments": ""}))
    two = cli(
        database_url,
        "create",
        "--json-file",
        str(document),
        "--password-stdin",
        "--group",
        str(group),
        "--enabled",
        input="s3cret!\n",
    )
    assert two.ok().out == "2\n"

    got = json.loads(cli(database_url, "get", "2", "--json").ok().out, parse_float=Decimal)
    assert got["Email"] == "bob@example.com" and got["BillingLastName"] == "Doe" and got["Comments"] == ""
    assert got["Password"] == "" and got["CustomerGroupID"] == group and got["Enabled"] is True
    assert got["BillingCity"] is None and str(got["TotalStoreCredit"]) == "0.0"
    assert list(got) == HEADER.split(",")
    hashed = password_hashes(server)["bob@example.com"]
    assert hashed and "s3cret!" not in hashed  # hashed by the service, never kept in clear
    shown = cli(database_url, "get", "2").ok().out
    assert "Email:                        bob@example.com" in shown and "s3cret" not in shown

    assert [c["CustomerID"] for c in listed(database_url)] == [1, 2]
    assert [c["CustomerID"] for c in listed(database_url, "--email", "ANN@example.com")] == [1]
    assert [c["CustomerID"] for c in listed(database_url, "--city", " paris ", "--first-name", "ann")] == [1]
    assert listed(database_url, "--city", "paris", "--first-name", "bob") == []
    assert [c["CustomerID"] for c in listed(database_url, "--group", str(group))] == [2]
    assert [c["CustomerID"] for c in listed(database_url, "--last-name", "doe")] == [2]
    assert cli(database_url, "list", "--count").ok().out == "2\n"
    assert json.loads(cli(database_url, "list", "--count", "--group", str(group), "--json").ok().out) == {
        "TotalCount": 1
    }
    table = cli(database_url, "list").ok().out
    assert "Ann@Example.com" in table and "Wholesale" not in table and "Customers" in table
    assert cli(database_url, "list", "--phone", "555").ok().out == "No customers.\n"
    rows = list(csv.reader(io.StringIO(cli(database_url, "list", "--format", "csv").ok().out)))
    assert rows[0] == HEADER.split(",") and len(rows) == 3

    assert (
        cli(database_url, "update", "1", "--last-name", "Lee", "--mail-list").ok().out
        == "Updated customer 1.\n"
    )
    after = listed(database_url, "--email", "ann@example.com")[0]
    assert (after["BillingFirstName"], after["BillingLastName"], after["MailList"]) == ("Ann", "Lee", True)
    assert password_hashes(server)["bob@example.com"] == hashed
    assert cli(database_url, "update", "2", "--comments", "vip").ok()
    assert password_hashes(server)["bob@example.com"] == hashed  # no password given: kept

    assert cli(database_url, "delete", "1").ok().out == "Deleted customer 1.\n"
    assert [c["CustomerID"] for c in listed(database_url)] == [2]
    with server.db.read() as conn:
        apps = conn.execute(sa.select(tables.audit_log.c.application, tables.audit_log.c.resource)).all()
    assert {a for a, r in apps if r == "Customer"} and all(
        a.startswith("cli") for a, r in apps if r == "Customer"
    )


def test_rules_and_bad_input_change_nothing(
    server: LiveServer, api: httpx.Client, issue: Callable[..., Issued], creds: Issued, database_url: str
) -> None:
    theirs = other_store_group(server, issue, creds)
    assert cli(database_url, "create", "--email", "ann@example.com").ok()
    cases = [
        (
            ("create", "--email", "ANN@example.com"),
            "error: Email is already used by another customer of this store",
        ),
        (("create", "--first-name", "x"), "error: Email is required"),
        (("create", "--email", " "), "error: Email must not be empty"),
        (("create", "--email", "x" * 101), "error: Email must be at most 100 characters (got 101)"),
        (
            ("create", "--email", "b@example.com", "--group", str(theirs)),
            "error: " + NO_GROUP.format(theirs),
        ),
        (("get", "9"), "error: no customer 9 in this store"),
        (("update", "9", "--city", "x"), "error: no customer 9 in this store"),
        (
            ("update", "1"),
            "error: nothing to change: give at least one field option, e.g. --email, or --json-file",
        ),
        (("delete", "9"), "error: no customer 9 in this store"),
        (("list", "--group", "7"), "error: no customer group 7 in this store"),
        (("list", "--offset", "5"), "error: Offset amount exceeds the total number of records"),
        (
            ("list", "--updated-since", "11/28/2026"),
            "error: --updated-since must be an ISO 8601 time such as 2026-11-28 or 2026-11-28T14:30:00Z "
            "(got '11/28/2026')",
        ),
        (
            ("export", "-o", "x.txt"),
            "error: cannot tell the format of x.txt from its name: give --format csv or --format json",
        ),
    ]
    for args, message in cases:
        assert rejected(database_url, server, *args) == message, args
    before = db_state(server.db)
    unknown = cli(database_url, "list", store="nowhere.example.com").one_line_error()
    assert unknown == "error: unknown store 'nowhere.example.com'"
    assert db_state(server.db) == before


def test_list_paging_and_last_update(server: LiveServer, creds: Issued, database_url: str) -> None:
    for n in range(1, 8):
        cli(database_url, "create", "--email", f"c{n}@example.com").ok()
    assert [c["CustomerID"] for c in listed(database_url, "--limit", "3", "--offset", "4")] == [4, 5, 6]
    assert len(listed(database_url, "--all", "--limit", "2")) == 7
    assert len(listed(database_url, "--updated-since", "2000-01-01", "--updated-until", "2999-01-01")) == 7
    assert listed(database_url, "--updated-since", "2999-01-01T00:00:00+02:00") == []
    assert listed(database_url, "--updated-until", "2000-01-01") == []


def export(database_url: str, *args: str, store: str = STORE) -> str:
    return cli(database_url, "export", *args, store=store).ok().out


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_export_then_import_into_another_store_gives_equal_customers(
    server: LiveServer,
    api: httpx.Client,
    issue: Callable[..., Issued],
    creds: Issued,
    database_url: str,
    tmp_path: Path,
    suffix: str,
) -> None:
    create_group(api, Name="Retail")
    wholesale = create_group(api, Name="Wholesale")
    other = issue(store=OTHER)
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other, creds.private_key)) as client:
        create_group(client, Name="Retail")
        assert create_group(client, Name="Wholesale") == wholesale  # the same ids in both stores
    text = "" if suffix == "json" else "x"  # CSV cannot tell "" from null: a non-empty text there
    cli(database_url, "create", "--email", "ann@example.com", "--first-name", "=HYPERLINK(1)").ok()
    body = json.dumps(
        {
            "Email": "bob@example.com",
            "Password": "hunter22",
            "BillingCompany": 'Comma, "quote"\nnewline',
            "ShippingAddressType": -3,
            "CustomerGroupID": wholesale,
            "NonTaxable": True,
            "Comments": text,
            "AdditionalField3": "'=already guarded",
            "ResetPassword": True,
        }
    )
    cli(database_url, "create", "--json-file", "-", input=body).ok()
    cli(database_url, "create", "--email", "gone@example.com").ok()
    cli(database_url, "delete", "3").ok()
    cli(database_url, "create", "--email", "dan@example.com", "--group", str(wholesale)).ok()

    out = tmp_path / f"customers.{suffix}"
    result = cli(database_url, "export", "-o", str(out))
    assert result.ok().err == f"Exported 3 customers to {out}.\n" and result.out == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    if suffix == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
        assert [r["Password"] for r in rows] == ["", "", ""]
        assert rows[0]["BillingFirstName"] == "'=HYPERLINK(1)"
        assert rows[1]["AdditionalField3"] == "''=already guarded"
        assert out.read_text(encoding="utf-8").startswith(HEADER + "\n") or out.read_bytes().startswith(
            HEADER.encode() + b"\r\n"
        )
    else:
        assert [c["Password"] for c in json.loads(out.read_text())] == ["", "", ""]
    assert export(database_url, "--format", suffix) == out.read_text(encoding="utf-8")

    imported = cli(database_url, "import", str(out), store=OTHER)
    assert imported.ok().out == "Created 3, updated 0, unchanged 0, failed 0.\n"
    source, copy = listed(database_url), listed(database_url, store=OTHER)
    assert [c["CustomerID"] for c in copy] == [1, 2, 3]
    assert [{**c, "CustomerID": 0} for c in copy] == [{**c, "CustomerID": 0} for c in source]
    assert [c["CustomerID"] for c in listed(database_url, "--group", str(wholesale), store=OTHER)] == [2, 3]
    # The second run finds every Email taken: the whole file is refused, nothing written.
    before = db_state(server.db)
    again = cli(database_url, "import", str(out), store=OTHER)
    assert again.code == 1 and db_state(server.db) == before
    assert again.err.splitlines()[-1] == "error: 3 of 3 rows are invalid; nothing was written"
    assert "Email is already used by another customer of this store" in again.err.splitlines()[0]


def test_import_reports_every_bad_row_and_writes_nothing(
    server: LiveServer,
    api: httpx.Client,
    issue: Callable[..., Issued],
    creds: Issued,
    database_url: str,
    tmp_path: Path,
) -> None:
    theirs = other_store_group(server, issue, creds)
    assert create_group(api, Name="Ours") == 1 < theirs
    cli(database_url, "create", "--email", "taken@example.com").ok()
    file = tmp_path / "in.csv"
    file.write_text(
        "Email,BillingFirstName,CustomerGroupID,Password,Enabled\r\n"
        "ok@example.com,Ok,0,pw,true\r\n"
        ',"two\r\nlines",0,,\r\n'  # no Email: line 3, row 2
        "TAKEN@example.com,,,,\r\n"
        f"g@example.com,,{theirs},,\r\n"
        "ok@EXAMPLE.com,,,,\r\n"
        f"{'x' * 101},,,,\r\n"
        "e@example.com,,,,maybe\r\n",
        encoding="utf-8",
    )
    before = db_state(server.db)
    result = cli(database_url, "import", str(file))
    assert result.code == 1 and db_state(server.db) == before and result.out == ""
    assert result.err.splitlines() == [
        "row 2 (line 3): Email is required",
        "row 3 (line 5): Email is already used by another customer of this store",
        "row 4 (line 6): " + NO_GROUP.format(theirs),
        "row 5 (line 7): Email 'ok@EXAMPLE.com' is also on row 1 (line 2)",
        "row 6 (line 8): Email must be at most 100 characters (got 101)",
        "row 7 (line 9): Enabled must be true or false, or a number (0 is false)",
        "error: 6 of 7 rows are invalid; nothing was written",
    ]


def test_import_bad_files(server: LiveServer, creds: Issued, database_url: str, tmp_path: Path) -> None:
    cases = {
        "unknown.csv": ("Email,Nickname\r\na@example.com,x\r\n", "unknown column 'Nickname'"),
        "twice.csv": ("Email,email\r\na@example.com,b\r\n", "column Email appears twice"),
        "noemail.csv": ("BillingFirstName\r\nAnn\r\n", "no Email column (every new customer needs one)"),
        "empty.csv": ("", "is empty: expected a header row (CustomerID,Email,"),
        "cells.csv": ("Email,BillingCity\r\na@example.com\r\n", "row 1 (line 2) has 1 cells, the header 2"),
        "bad.json": ("[{", "is not valid JSON"),
        "object.json": ('{"Email": "a@example.com"}', "expected a JSON array of Customer objects"),
    }
    for name, (content, message) in cases.items():
        file = tmp_path / name
        file.write_text(content, encoding="utf-8")
        error = rejected(database_url, server, "import", str(file))
        assert error.startswith("error: ") and message in error, (name, error)
    notes = tmp_path / "notes.txt"
    notes.write_text("Email\r\n")
    assert rejected(database_url, server, "import", str(notes)).startswith("error: cannot tell the format")
    items = tmp_path / "items.json"
    items.write_text('[{"Email": "a@example.com"}, 5]')
    before = db_state(server.db)
    result = cli(database_url, "import", str(items))
    assert result.code == 1 and db_state(server.db) == before
    assert result.err.splitlines() == [
        "row 2: expected a Customer object",
        "error: 1 of 2 rows are invalid; nothing was written",
    ]


def test_import_update_by_customer_id_and_dry_run(
    server: LiveServer, creds: Issued, database_url: str, tmp_path: Path
) -> None:
    cli(database_url, "create", "--email", "ann@example.com", "--city", "Paris").ok()
    cli(database_url, "create", "--email", "bob@example.com").ok()
    file = tmp_path / "changes.json"
    file.write_text(
        json.dumps(
            [
                {"CustomerID": 1, "BillingCity": "Lyon", "Password": "newpass1"},
                {"CustomerID": 2, "Email": "bob@example.com"},  # no change
                {"Email": "cy@example.com", "CustomerID": None},
            ]
        )
    )
    before = db_state(server.db)
    dry = cli(database_url, "import", str(file), "--update", "--dry-run").ok()
    assert dry.out == "Dry run: would create 1, update 1, leave 1 unchanged (3 rows); nothing was written.\n"
    assert db_state(server.db) == before
    done = cli(database_url, "import", str(file), "--update").ok()
    assert done.out == "Created 1, updated 1, unchanged 1, failed 0.\n"
    customers = listed(database_url)
    assert [(c["CustomerID"], c["Email"], c["BillingCity"]) for c in customers] == [
        (1, "ann@example.com", "Lyon"),
        (2, "bob@example.com", None),
        (3, "cy@example.com", None),
    ]
    hashes = password_hashes(server)
    assert hashes["ann@example.com"] and "newpass1" not in (hashes["ann@example.com"] or "")
    assert hashes["bob@example.com"] is None

    bad = tmp_path / "bad.csv"
    bad.write_text("CustomerID,Email\r\n9,x@example.com\r\n1,bob@example.com\r\n1,\r\n")
    before = db_state(server.db)
    result = cli(database_url, "import", str(bad), "--update")
    assert result.code == 1 and db_state(server.db) == before
    assert result.err.splitlines() == [
        "row 1 (line 2): no customer 9 in this store",
        "row 2 (line 3): Email is already used by another customer of this store",
        "row 3 (line 4): CustomerID 1 is also on row 2 (line 3)",
        "error: 3 of 3 rows are invalid; nothing was written",
    ]


def test_export_and_import_page_through_many_customers(
    server: LiveServer, creds: Issued, database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "many.csv"
    file.write_text(
        "Email,BillingCity\r\n" + "".join(f"c{n}@example.com,City {n % 7}\r\n" for n in range(1201))
    )
    result = cli(database_url, "import", str(file))
    assert result.ok().out == "Created 1201, updated 0, unchanged 0, failed 0.\n"
    assert cli(database_url, "list", "--count").ok().out == "1201\n"
    out = export(database_url)
    rows = list(csv.reader(io.StringIO(out)))
    assert len(rows) == 1202 and [int(r[0]) for r in rows[1:]] == list(range(1, 1202))
    as_json = json.loads(export(database_url, "--format", "json"))
    assert [c["Email"] for c in as_json] == [f"c{n}@example.com" for n in range(1201)]
    assert len(listed(database_url, "--all", "--city", "city 3")) == len(
        [n for n in range(1201) if n % 7 == 3]
    )


@pytest.mark.parametrize(
    "args",
    [
        ("get", "99999999999"),
        ("get", "100000000000000000000"),
        ("delete", "0"),
        ("update", "2147483648", "--city", "Paris"),
        ("list", "--group", "99999999999"),
        ("create", "--email", "a@example.com", "--group", "-1"),
    ],
)
def test_ids_out_of_32_bits_are_refused_by_the_command_line(
    server: LiveServer, database_url: str, args: tuple[str, ...]
) -> None:
    """A usage error (exit 2) naming the range, never a driver's traceback."""
    before = db_state(server.db)
    result = cli(database_url, *args)
    assert result.code == 2, result
    assert "Invalid value for" in result.err
    assert "Input should be less than or equal to 2147483647" in result.err or (
        "Input should be greater than or equal to" in result.err
    )
    assert db_state(server.db) == before
