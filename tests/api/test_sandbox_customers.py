"""Customers in the sandbox (SQLite and PostgreSQL): reset empties them and restarts their ids,
seed takes them (groups named by their seed label, store credit, hashed passwords), export
includes them and seeds back, fault rules hit /Customers, and the journal never keeps a password."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.service.credentials import Issued
from cartgroups.service.customers import EMAIL_TAKEN, NO_SUCH_GROUP
from cartgroups.storage import tables
from cartgroups.storage.database import Database
from tests.conftest import STORE, LiveServer, error_body, sandbox_state

CUSTOMERS = "/Customers"
SECRET = "s3cret-Pa55word"


def _seed(control: httpx.Client, body: object, store: str = STORE) -> httpx.Response:
    return control.post(f"/stores/{store}/seed", json=body)


def test_seed_groups_and_customers_then_read_them_through_the_api(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client, sandbox_creds: Issued
) -> None:
    body = {
        "groups": [{"Name": "Retail", "CustomerGroupID": 10}, {"Name": "Wholesale", "CustomerGroupID": 20}],
        "customers": [
            {
                "Email": "jane@example.com",
                "CustomerGroupID": 20,
                "TotalStoreCredit": 12.50,
                "Password": SECRET,
            },
            {"Email": "joe@example.com", "BillingFirstName": "Joe"},
            {"Email": "ann@example.com", "CustomerGroupID": 1},  # no label 1: the store's group 1
        ],
    }
    response = _seed(control, body)
    assert response.status_code == 201, response.text
    assert response.json() == {"ids": [1, 2], "customer_ids": [1, 2, 3]}
    jane = sandbox_api.get(f"{CUSTOMERS}/1")
    assert jane.status_code == 200
    assert b'"TotalStoreCredit":12.5,' in jane.content and b'"Password":""' in jane.content
    assert jane.json()[0]["CustomerGroupID"] == 2
    assert sandbox_api.get(f"{CUSTOMERS}/3").json()[0]["CustomerGroupID"] == 1
    assert sandbox_api.get(f"{CUSTOMERS}/2").json()[0]["TotalStoreCredit"] == 0.0
    members = sandbox_api.get("/CustomerGroups/2/Customers")
    assert [c["Email"] for c in members.json()] == ["jane@example.com"]
    # The password is stored hashed, never in clear.
    assert SECRET not in every_row(sandbox.db)


def every_row(db: Database) -> str:
    """Every row of every table as text, to look for a secret."""
    with db.read() as conn:
        return repr([conn.execute(sa.select(table)).all() for table in tables.metadata.sorted_tables])


def test_a_group_seed_array_still_answers_ids_only(control: httpx.Client, sandbox_creds: Issued) -> None:
    response = _seed(control, [{"Name": "Retail"}])
    assert response.status_code == 201
    assert response.json() == {"ids": [1]}


@pytest.mark.parametrize(
    ("customers", "value", "message"),
    [
        ([{"BillingFirstName": "x"}], "customers[0]", "Email is required"),
        (
            [{"Email": "a@b.c", "TotalStoreCredit": -1}],
            "customers[0]",
            "TotalStoreCredit must be a number from 0 to 79228162514264337593543950335",
        ),
        (
            [{"Email": "a@b.c", "TotalStoreCredit": "five"}],
            "customers[0]",
            "TotalStoreCredit must be a number",
        ),
        (
            [{"Email": "a@b.c"}, {"Email": " A@B.C "}],
            "customers[1]",
            "Email is also the e-mail of customers[0]",
        ),
        ([{"Email": "a@b.c", "CustomerGroupID": 7}], "customers[0]", NO_SUCH_GROUP.format(7)),
        (
            [{"Email": "a@b.c", "CustomerGroupID": 5}],
            "customers[0]",
            "CustomerGroupID 5 names more than one group of the seed",
        ),
        ([{"Email": "a@b.c", "Password": "x" * 51}], "customers[0]", None),
    ],
)
def test_a_bad_seeded_customer_is_400_and_nothing_is_written(
    sandbox: LiveServer,
    control: httpx.Client,
    sandbox_creds: Issued,
    customers: list[object],
    value: str,
    message: str | None,
) -> None:
    groups = [{"Name": "A", "CustomerGroupID": 5}, {"Name": "B", "CustomerGroupID": 5}]
    before = sandbox_state(sandbox.db)
    response = _seed(control, {"groups": groups, "customers": customers})
    assert response.status_code == 400
    [record] = response.json()
    assert record["Value"] == value
    if message is not None:
        assert record["Message"] == message
    assert sandbox_state(sandbox.db) == before


def test_a_seeded_email_taken_in_the_store_is_400_and_nothing_is_written(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    assert sandbox_api.post(CUSTOMERS, json={"Email": "taken@example.com"}).status_code == 201
    before = sandbox_state(sandbox.db)
    response = _seed(control, {"groups": [{"Name": "G"}], "customers": [{"Email": "TAKEN@example.com"}]})
    assert response.status_code == 400
    assert response.content == error_body(400, EMAIL_TAKEN, "customers[0]")
    assert sandbox_state(sandbox.db) == before


def test_reset_removes_customers_and_their_ids_start_again(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    assert (
        _seed(control, {"customers": [{"Email": "a@example.com"}, {"Email": "b@example.com"}]}).status_code
        == 201
    )
    assert control.post(f"/stores/{STORE}/reset").status_code == 200
    assert sandbox_api.get(CUSTOMERS, params={"countonly": 1}).json() == {"TotalCount": 0}
    assert sandbox_api.post(CUSTOMERS, json={"Email": "c@example.com"}).json()[0]["Value"] == "1"
    assert control.post("/reset").status_code == 200
    assert sandbox_api.post(CUSTOMERS, json={"Email": "d@example.com"}).json()[0]["Value"] == "1"
    with sandbox.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.customers)).scalar_one() == 1


def test_export_with_customers_seeds_back_into_another_store(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client, sandbox_creds: Issued
) -> None:
    sandbox_api.post("/CustomerGroups", json={"Name": "Gone"})
    sandbox_api.delete("/CustomerGroups/1")  # the next group is 2: ids differ in a fresh store
    body = {
        "groups": [{"Name": "Retail"}],
        "customers": [{"Email": "jane@example.com", "CustomerGroupID": 2, "TotalStoreCredit": "7"}],
    }
    assert _seed(control, body).status_code == 201
    plain = control.get(f"/stores/{STORE}/export")
    assert plain.status_code == 200 and [g["Name"] for g in plain.json()] == ["Retail"]  # unchanged
    exported = control.get(f"/stores/{STORE}/export", params={"include": "customers"})
    assert exported.status_code == 200
    data = exported.json()
    listed = sandbox_api.get(CUSTOMERS)
    assert json.dumps(data["customers"]) == json.dumps(listed.json())
    assert data["customers"][0]["TotalStoreCredit"] == 7.0
    assert control.post("/stores", json={"SecureURL": "copy.example.com"}).status_code == 201
    seeded = _seed(control, data, "copy.example.com")
    assert seeded.status_code == 201, seeded.text
    again = control.get("/stores/copy.example.com/export", params={"include": "customers"}).json()
    assert again["customers"][0]["CustomerGroupID"] == 1  # the copy's Retail, by its label 2
    assert again["customers"][0]["TotalStoreCredit"] == 7.0
    bad = control.get(f"/stores/{STORE}/export", params={"include": "orders"})
    assert bad.status_code == 400
    assert bad.content == error_body(400, "include must be customers (got 'orders')", "orders")


def test_a_fault_rule_on_customers_applies(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    rule = control.post("/faults", json={"method": "POST", "path": "*/Customers*", "status": 503, "times": 1})
    assert rule.status_code == 201
    before = sandbox_state(sandbox.db)
    response = sandbox_api.post(CUSTOMERS, json={"Email": "jane@example.com"})
    assert response.status_code == 503
    assert response.content == error_body(503, "The service is unavailable.")
    after = sandbox_state(sandbox.db)
    with sandbox.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.customers)).scalar_one() == 0
    assert len(after) >= len(before)  # only the journal (and the spent rule) changed
    assert sandbox_api.get("/CustomerGroups").status_code == 404  # other routes untouched
    assert sandbox_api.post(CUSTOMERS, json={"Email": "jane@example.com"}).status_code == 201  # spent


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"Email": "jane@example.com", "Password": SECRET}).encode(), "application/json"),
        (b"{Email:'jane@example.com', 'pass\\u0077ord':'" + SECRET.encode() + b"',}", "application/json"),
        (
            json.dumps({"Email": "jane@example.com", "Password": SECRET}).encode("utf-16"),
            "application/json; charset=utf-16",
        ),
        (b'{"Email":"jane@example.com","Password":"' + SECRET.encode() + b'"', "application/json"),
        (
            b"<Customer><Email>jane@example.com</Email><Password>"
            + SECRET.encode()
            + b"</Password></Customer>",
            "application/xml",
        ),
    ],
)
def test_the_journal_never_stores_a_password(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client, body: bytes, content_type: str
) -> None:
    sandbox_api.post(CUSTOMERS, content=body, headers={"Content-Type": content_type})
    sandbox_api.put(
        CUSTOMERS,
        content=json.dumps([{"CustomerID": 1, "Password": SECRET}]).encode(),
        headers={"Content-Type": "application/json"},
    )
    entries = control.get(f"/stores/{STORE}/journal").json()
    assert [e["path"] for e in entries] == ["/3dCartWebAPI/v1/Customers"] * 2
    assert all("[redacted" in e["request_body"] for e in entries)
    with sandbox.db.read() as conn:
        stored = repr(conn.execute(sa.select(tables.sandbox_journal)).all())
    assert SECRET not in stored
    assert SECRET not in every_row(sandbox.db)


def test_the_journal_keeps_a_customer_body_without_a_password_as_sent(
    control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    sent = b'{"Email":"jane@example.com",  "ResetPassword":true, "Password":""}'
    created = sandbox_api.post(CUSTOMERS, content=sent, headers={"Content-Type": "application/json"})
    assert created.status_code == 201
    [entry] = control.get(f"/stores/{STORE}/journal").json()
    assert entry["request_body"] == sent.decode()
    assert entry["response_body"] == created.text


def test_a_seeded_credit_of_minus_zero_is_zero_on_both_databases(
    sandbox: LiveServer, control: httpx.Client, sandbox_api: httpx.Client, sandbox_creds: Issued
) -> None:
    """SQLite would keep "-0.00" as it was given and write -0.00; PostgreSQL's numeric 0.00."""
    body = {"customers": [{"Email": "a@example.com", "TotalStoreCredit": "-0.00"}]}
    assert _seed(control, body).status_code == 201
    assert b'"TotalStoreCredit":0.00,' in sandbox_api.get(f"{CUSTOMERS}/1").content
