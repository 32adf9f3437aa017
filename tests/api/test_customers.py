"""The six Customers routes (issue #18; shared/spec/customers.md §1-§6, D1-D9), over HTTP on both
databases: exact bodies, every rule's status and message with nothing changed, passwords never
shown, the hidden last-update time, scopes, and two racing creates of one e-mail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from cartgroups.service.credentials import Issued
from cartgroups.service.operators import verify_password
from cartgroups.storage import tables
from tests.api.support import JSON, IssueFn, State, array, assert_error
from tests.conftest import LiveServer, create_group, headers_for, plain_client

CUSTOMERS = "/Customers"
NOT_FOUND = "The Customer record was not found."
NO_CUSTOMERS = "No Customer records found."
SOME_NOT_FOUND = "One or more Customer records were not found."
EMAIL_TAKEN = "Email is already used by another customer of this store"
OFFSET_PAST_END = "Offset amount exceeds the total number of records"
NO_WRITE = "The application is not authorized to change this store's data"
BAD_PATH_ID = "CustomerID in the URL must be an integer from 1 to 2147483647"
BAD_ITEM_ID = "CustomerID must be an integer from 1 to 2147483647"
NOT_AN_OBJECT = "The request body must be a JSON object (a Customer)"
LIMIT_RULE = "limit must be an integer from 0 to 500 (0 means 10)"
OFFSET_RULE = "offset must be a whole number; the first record is 1"
COUNTONLY_RULE = "countonly must be 0 or 1"
INT32_RULE = "{} must be an integer from -2147483648 to 2147483647"
GROUP_ID_RULE = "CustomerGroupID must be an integer from 0 to 2147483647"
UPDATED = "updated successfully"


def no_such_group(group_id: int) -> str:
    return f"CustomerGroupID must be 0 or a customer group of this store (there is no group {group_id})"


def bad_date(name: str) -> str:
    return f"{name} must be a date and time as mm/dd/yyyy hh:mm:ss (24-hour clock) or a date as mm/dd/yyyy"


# The 36 fields in wire order (spec §2), written out here rather than taken from the model.
WIRE_FIELDS = (
    "CustomerID",
    "Email",
    "Password",
    "BillingCompany",
    "BillingFirstName",
    "BillingLastName",
    "BillingAddress1",
    "BillingAddress2",
    "BillingCity",
    "BillingState",
    "BillingZipCode",
    "BillingCountry",
    "BillingPhoneNumber",
    "BillingTaxID",
    "ShippingCompany",
    "ShippingFirstName",
    "ShippingLastName",
    "ShippingAddress1",
    "ShippingAddress2",
    "ShippingCity",
    "ShippingState",
    "ShippingZipCode",
    "ShippingCountry",
    "ShippingPhoneNumber",
    "ShippingAddressType",
    "CustomerGroupID",
    "Enabled",
    "MailList",
    "NonTaxable",
    "DisableBillingSameAsShipping",
    "Comments",
    "AdditionalField1",
    "AdditionalField2",
    "AdditionalField3",
    "TotalStoreCredit",
    "ResetPassword",
)
assert len(WIRE_FIELDS) == 36
INTEGERS = ("ShippingAddressType", "CustomerGroupID")
FLAGS = ("Enabled", "MailList", "NonTaxable", "DisableBillingSameAsShipping", "ResetPassword")
MAX_LENGTHS = {
    "Email": 100,
    "Password": 50,
    "BillingCompany": 255,
    "BillingFirstName": 50,
    "BillingLastName": 50,
    "BillingAddress1": 255,
    "BillingAddress2": 50,
    "BillingCity": 100,
    "BillingState": 100,
    "BillingZipCode": 20,
    "BillingCountry": 100,
    "BillingPhoneNumber": 50,
    "BillingTaxID": 50,
    "ShippingCompany": 255,
    "ShippingFirstName": 50,
    "ShippingLastName": 50,
    "ShippingAddress1": 255,
    "ShippingAddress2": 50,
    "ShippingCity": 100,
    "ShippingState": 100,
    "ShippingZipCode": 20,
    "ShippingCountry": 100,
    "ShippingPhoneNumber": 50,
    "Comments": 255,
    "AdditionalField1": 250,
    "AdditionalField2": 250,
    "AdditionalField3": 150,
}
STRINGS = tuple(name for name in MAX_LENGTHS if name not in ("Email", "Password"))


def customer_bytes(customer_id: int, email: str, **fields: object) -> bytes:
    """One Customer exactly as the wire carries it (ASCII text only): wire order, compact,
    unset strings null, integers 0, flags false, Password "", TotalStoreCredit 0.0."""
    values: dict[str, object] = {name: None for name in WIRE_FIELDS}
    values.update({name: 0 for name in INTEGERS}, **{name: False for name in FLAGS})
    values.update(CustomerID=customer_id, Email=email, Password="")
    unknown = set(fields) - set(WIRE_FIELDS)
    assert not unknown, unknown
    values.update(fields)
    parts = []
    for name in WIRE_FIELDS:
        value = values[name]
        written = "0.0" if name == "TotalStoreCredit" else json.dumps(value)
        parts.append(f'"{name}":{written}')
    return ("{" + ",".join(parts) + "}").encode()


def result(customer_id: object, status: int, message: str) -> bytes:
    """One result record (no brackets)."""
    return (
        f'{{"Key":"CustomerID","Value":"{customer_id}","Status":"{status}","Message":"{message}"}}'.encode()
    )


def create_customer(client: httpx.Client, email: str = "jane@example.com", **fields: object) -> int:
    response = client.post(CUSTOMERS, json={"Email": email, **fields})
    assert response.status_code == 201, response.text
    return int(response.json()[0]["Value"])


def got(client: httpx.Client, customer_id: int) -> bytes:
    response = client.get(f"{CUSTOMERS}/{customer_id}")
    assert response.status_code == 200, response.text
    return response.content


def got_one(client: httpx.Client, customer_id: int) -> dict[str, Any]:
    body = json.loads(got(client, customer_id))
    assert isinstance(body, list) and len(body) == 1
    return dict(body[0])


def ids_of(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [int(c["CustomerID"]) for c in response.json()]


def password_hash(server: LiveServer, customer_id: int) -> str | None:
    with server.db.read() as conn:
        stored: str | None = conn.execute(
            sa.select(tables.customers.c.password_hash).where(tables.customers.c.customer_id == customer_id)
        ).scalar_one()
    return stored


def customer_audit(server: LiveServer) -> list[tuple[str, int, str | None, str | None]]:
    """(action, item_id, before, after) of every Customer entry, in order."""
    log = tables.audit_log
    with server.db.read() as conn:
        rows = conn.execute(
            sa.select(log.c.action, log.c.item_id, log.c.before_values, log.c.after_values)
            .where(log.c.resource == "Customer")
            .order_by(log.c.id)
        ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


# ---------------------------------------------------------------- bytes


FULL = {
    "CustomerID": 96318450,  # ignored (D1)
    "Email": "jane@example.com",
    "Password": "s3cret",
    "BillingCompany": "Acme",
    "BillingFirstName": "Jane",
    "BillingLastName": "Doe",
    "BillingAddress1": "1 Main St",
    "BillingAddress2": "",
    "BillingCity": "Springfield",
    "BillingState": "IL",
    "BillingZipCode": "62701",
    "BillingCountry": "US",
    "BillingPhoneNumber": "555-0100",
    "BillingTaxID": "TX-1",
    "ShippingCompany": "Acme Shipping",
    "ShippingFirstName": "John",
    "ShippingLastName": "Roe",
    "ShippingAddress1": "2 Side St",
    "ShippingAddress2": "Apt 3",
    "ShippingCity": "Shelbyville",
    "ShippingState": "IN",
    "ShippingZipCode": "46176",
    "ShippingCountry": "US",
    "ShippingPhoneNumber": "555-0101",
    "ShippingAddressType": -7,
    "CustomerGroupID": 0,
    "Enabled": True,
    "MailList": False,
    "NonTaxable": True,
    "DisableBillingSameAsShipping": True,
    "Comments": "",
    "AdditionalField1": "a1",
    "AdditionalField2": None,
    "AdditionalField3": "a3",
    "TotalStoreCredit": 12.5,  # ignored (D6)
    "ResetPassword": True,
}


def test_create_returns_its_record_and_get_returns_every_field_in_wire_order(
    api: httpx.Client, server: LiveServer
) -> None:
    response = api.post(CUSTOMERS, json=FULL)
    assert response.status_code == 201
    assert response.content == array(result(1, 201, "Created successfully"))
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    shown = {
        k: v for k, v in FULL.items() if k not in ("CustomerID", "Email", "Password", "TotalStoreCredit")
    }
    expected = customer_bytes(1, "jane@example.com", **shown)
    assert got(api, 1) == array(expected)
    assert b'"Password":""' in expected and b'"TotalStoreCredit":0.0' in expected
    assert b'"BillingAddress2":""' in expected and b'"AdditionalField2":null' in expected
    assert list(got_one(api, 1)) == list(WIRE_FIELDS)
    assert b"s3cret" not in got(api, 1)


def test_a_minimal_create_has_the_defaults_of_d4(api: httpx.Client) -> None:
    assert create_customer(api, "min@example.com") == 1
    assert got(api, 1) == array(customer_bytes(1, "min@example.com"))
    # null on POST is as absent; ResetPassword false by default.
    response = api.post(CUSTOMERS, json={"Email": "n@example.com", "BillingCity": None, "Enabled": None})
    assert response.content == array(result(2, 201, "Created successfully"))
    assert got(api, 2) == array(customer_bytes(2, "n@example.com"))


def test_the_same_bytes_on_v1_and_v2_and_in_any_path_case(server: LiveServer, creds: Issued) -> None:
    headers = headers_for(creds)
    with (
        plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as v1,
        plain_client(server.base_url + "/3dCartWebAPI/v2", headers) as v2,
    ):
        assert v2.post("/customers", json={"Email": "a@example.com"}).content == array(
            result(1, 201, "Created successfully")
        )
        create_customer(v1, "b@example.com")
        one = array(customer_bytes(1, "a@example.com"))
        both = array(customer_bytes(1, "a@example.com"), customer_bytes(2, "b@example.com"))
        for client in (v1, v2):
            for path in ("/Customers/1", "/customers/1", "/CUSTOMERS/1"):
                assert client.get(path).content == one
            for path in ("/Customers", "/cUsToMeRs"):
                assert client.get(path).content == both
                assert client.get(path, params={"countonly": "1"}).content == b'{"TotalCount":2}'
        assert v2.put("/CUSTOMERS/1", json={"BillingCity": "X"}).content == array(result(1, 200, UPDATED))
        assert v2.put("/customers", json=[{"CustomerID": 2, "BillingCity": "Y"}]).content == array(
            result(2, 200, UPDATED)
        )
        assert v1.get("/Customers/1").content == array(customer_bytes(1, "a@example.com", BillingCity="X"))
        assert v2.delete("/customers/2").content == array(result(2, 200, "Deleted successfully"))
        assert_error(v1.get("/Customers/2"), 404, NOT_FOUND, "2")


def test_list_pages_in_id_order_with_limit_0_meaning_10(api: httpx.Client) -> None:
    for n in range(1, 13):
        create_customer(api, f"c{n}@example.com")
    assert ids_of(api.get(CUSTOMERS)) == list(range(1, 11))
    assert ids_of(api.get(CUSTOMERS, params={"limit": "0"})) == list(range(1, 11))
    assert ids_of(api.get(CUSTOMERS, params={"limit": "", "offset": ""})) == list(range(1, 11))
    assert ids_of(api.get(CUSTOMERS, params={"limit": "500"})) == list(range(1, 13))
    assert ids_of(api.get(CUSTOMERS, params={"limit": "5", "offset": "11"})) == [11, 12]
    assert ids_of(api.get(CUSTOMERS, params={"limit": "2", "offset": "0"})) == [1, 2]
    assert ids_of(api.get(CUSTOMERS, params={"limit": "1", "offset": "12"})) == [12]
    response = api.get(CUSTOMERS, params={"limit": "2", "offset": "3"})
    assert response.content == array(customer_bytes(3, "c3@example.com"), customer_bytes(4, "c4@example.com"))
    assert api.get(CUSTOMERS, params={"countonly": "1", "limit": "1"}).content == b'{"TotalCount":12}'
    assert api.get(CUSTOMERS, params={"countonly": "0", "limit": "1"}).status_code == 200
    assert api.get(CUSTOMERS, params={"countonly": "1", "email": "nobody"}).content == b'{"TotalCount":0}'


def test_an_empty_store_lists_404_and_counts_0(api: httpx.Client, state: State) -> None:
    before = state()
    assert_error(api.get(CUSTOMERS), 404, NO_CUSTOMERS)
    assert_error(api.get(CUSTOMERS, params={"offset": "5"}), 404, NO_CUSTOMERS)
    assert api.get(CUSTOMERS, params={"countonly": "1"}).content == b'{"TotalCount":0}'
    assert state() == before


def test_the_text_filters_match_their_fields_exactly_in_any_case_trimmed(api: httpx.Client) -> None:
    create_customer(
        api,
        "Jane@Example.com",
        BillingFirstName="Jane",
        BillingLastName="Doe",
        BillingCountry="US",
        BillingState="IL",
        BillingCity="Springfield",
        BillingPhoneNumber="555-0100",
    )
    create_customer(
        api,
        "john@example.com",
        BillingFirstName="John",
        BillingLastName="Doe",
        BillingCountry="US",
        BillingState="IN",
        BillingCity="Shelbyville",
        BillingPhoneNumber="555-0101",
        ShippingFirstName="Jane",  # the filters read the billing fields only
        ShippingCity="Springfield",
    )
    cases = {
        "email": ({" jane@EXAMPLE.com ": [1], "john@example.com": [2], "jane@example": []}),
        "firstname": ({"JANE": [1], " john": [2], "Ja": []}),
        "lastname": ({"doe": [1, 2], "DOE ": [1, 2]}),
        "country": ({"us": [1, 2], "U": []}),
        "state": ({"il": [1], "IN": [2]}),
        "city": ({"springfield": [1], "SHELBYVILLE": [2]}),
        "phone": ({"555-0100": [1], "5550100": []}),
    }
    for name, values in cases.items():
        for value, expected in values.items():
            response = api.get(CUSTOMERS, params={name: value})
            if expected:
                assert ids_of(response) == expected, (name, value)
            else:
                assert_error(response, 404, NO_CUSTOMERS)
            count = api.get(CUSTOMERS, params={name: value, "countonly": "1"})
            assert count.content == b'{"TotalCount":%d}' % len(expected)
    # Filters combine with AND; a blank one is no filter.
    assert ids_of(api.get(CUSTOMERS, params={"lastname": "doe", "state": "in"})) == [2]
    assert_error(api.get(CUSTOMERS, params={"firstname": "jane", "state": "in"}), 404, NO_CUSTOMERS)
    assert ids_of(api.get(CUSTOMERS, params={"email": "  ", "city": ""})) == [1, 2]
    # Parameter names in any case, as the list's others.
    assert ids_of(api.get(CUSTOMERS, params={"FirstName": "jane"})) == [1]


def test_a_filter_follows_a_changed_field(api: httpx.Client) -> None:
    create_customer(api, "a@example.com", BillingCity="Old")
    api.put(f"{CUSTOMERS}/1", json={"BillingCity": "New", "Email": "B@example.com"})
    assert_error(api.get(CUSTOMERS, params={"city": "old"}), 404, NO_CUSTOMERS)
    assert ids_of(api.get(CUSTOMERS, params={"city": "new", "email": "b@example.com"})) == [1]
    api.put(f"{CUSTOMERS}/1", json={"BillingCity": ""})
    assert_error(api.get(CUSTOMERS, params={"city": "new"}), 404, NO_CUSTOMERS)


def test_offset_past_the_end_is_400(api: httpx.Client, state: State) -> None:
    create_customer(api, "a@example.com", BillingCity="X")
    create_customer(api, "b@example.com")
    before = state()
    assert_error(api.get(CUSTOMERS, params={"offset": "3"}), 400, OFFSET_PAST_END)
    assert_error(api.get(CUSTOMERS, params={"offset": "2147483648"}), 400, OFFSET_PAST_END)
    assert_error(api.get(CUSTOMERS, params={"offset": "2", "city": "x"}), 400, OFFSET_PAST_END)
    assert_error(api.get(CUSTOMERS, params={"offset": "2", "city": "y"}), 404, NO_CUSTOMERS)
    assert state() == before


@pytest.mark.parametrize(
    ("params", "message", "value"),
    [
        ({"limit": "501"}, LIMIT_RULE, ""),
        ({"limit": "-1"}, LIMIT_RULE, ""),
        ({"limit": "x"}, LIMIT_RULE, ""),
        ({"limit": "1.5"}, LIMIT_RULE, ""),
        ({"limit": "99999999999999999999999"}, LIMIT_RULE, ""),
        ({"offset": "-1"}, OFFSET_RULE, ""),
        ({"offset": "one"}, OFFSET_RULE, ""),
        ({"countonly": "2"}, COUNTONLY_RULE, ""),
        ({"countonly": "yes"}, COUNTONLY_RULE, ""),
        ({"lastupdatestart": "2024-01-02"}, bad_date("lastupdatestart"), "2024-01-02"),
        ({"lastupdatestart": "13/01/2024"}, bad_date("lastupdatestart"), "13/01/2024"),
        ({"lastupdateend": "01/02/2024 25:00:00"}, bad_date("lastupdateend"), "01/02/2024 25:00:00"),
        ({"lastupdateend": "01/02/2024 1:00 PM"}, bad_date("lastupdateend"), "01/02/2024 1:00 PM"),
        ({"lastupdateend": "02/30/2024"}, bad_date("lastupdateend"), "02/30/2024"),
    ],
)
def test_bad_list_parameters_are_400(
    api: httpx.Client, state: State, params: dict[str, str], message: str, value: str
) -> None:
    create_customer(api)
    before = state()
    assert_error(api.get(CUSTOMERS, params=params), 400, message, value)
    assert state() == before


def test_bad_path_ids_are_400_and_missing_ones_404(api: httpx.Client, state: State) -> None:
    create_customer(api)
    before = state()
    for raw in ("0", "-1", "abc", "1.5", "2147483648", "99999999999"):
        assert_error(api.get(f"{CUSTOMERS}/{raw}"), 400, BAD_PATH_ID, raw)
        assert_error(api.put(f"{CUSTOMERS}/{raw}", json={"BillingCity": "x"}), 400, BAD_PATH_ID, raw)
        assert_error(api.delete(f"{CUSTOMERS}/{raw}"), 400, BAD_PATH_ID, raw)
    for missing in ("2", "2147483647"):
        assert_error(api.get(f"{CUSTOMERS}/{missing}"), 404, NOT_FOUND, missing)
        assert_error(api.put(f"{CUSTOMERS}/{missing}", json={"BillingCity": "x"}), 404, NOT_FOUND, missing)
        assert_error(api.delete(f"{CUSTOMERS}/{missing}"), 404, NOT_FOUND, missing)
    assert state() == before


# ---------------------------------------------------------------- D1 ids and stores


def test_ids_are_per_store_ascending_and_never_reused(
    server: LiveServer, api: httpx.Client, issue: IssueFn
) -> None:
    ids = [create_customer(api, f"{n}@example.com", CustomerID=value) for n, value in enumerate((5, "x", -1))]
    assert ids == [1, 2, 3]  # a CustomerID in a POST body is ignored, whatever it is
    assert api.delete(f"{CUSTOMERS}/3").status_code == 200
    assert create_customer(api, "again@example.com") == 4  # the deleted highest id is not reused
    other = issue(store="other.example.com", app="other-app")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other)) as client:
        assert create_customer(client, "0@example.com") == 1  # the same e-mail in another store too


def test_another_stores_customers_are_not_visible(
    server: LiveServer, api: httpx.Client, issue: IssueFn, state: State
) -> None:
    other = issue(store="other.example.com", app="other-app")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other)) as client:
        create_customer(client, "theirs@example.com", BillingCity="There")
        create_customer(client, "theirs2@example.com")
    create_customer(api, "mine@example.com")
    before = state()
    assert_error(api.get(f"{CUSTOMERS}/2"), 404, NOT_FOUND, "2")
    assert_error(api.put(f"{CUSTOMERS}/2", json={"BillingCity": "x"}), 404, NOT_FOUND, "2")
    assert_error(api.delete(f"{CUSTOMERS}/2"), 404, NOT_FOUND, "2")
    response = api.put(CUSTOMERS, json=[{"CustomerID": 2, "BillingCity": "x"}])
    assert response.status_code == 404
    assert response.content == array(result(2, 404, SOME_NOT_FOUND))
    assert ids_of(api.get(CUSTOMERS)) == [1]
    assert_error(api.get(CUSTOMERS, params={"city": "there"}), 404, NO_CUSTOMERS)
    assert api.get(CUSTOMERS, params={"countonly": "1"}).content == b'{"TotalCount":1}'
    assert state() == before


# ---------------------------------------------------------------- D2 e-mail


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Email is required"),
        ({"Email": None}, "Email is required"),
        ({"email": None, "BillingCity": "x"}, "Email is required"),
        ({"Email": ""}, "Email must not be empty"),
        ({"Email": "   "}, "Email must not be empty"),
        ({"Email": "x" * 101}, "Email must be at most 100 characters (got 101)"),
        ({"Email": 5}, "Email must be a string"),
        ({"Email": "JANE@example.com"}, EMAIL_TAKEN),
        ({"Email": " jane@example.com\t"}, EMAIL_TAKEN),
    ],
)
def test_create_email_rules(api: httpx.Client, state: State, body: dict[str, object], message: str) -> None:
    create_customer(api, "jane@example.com")
    before = state()
    assert_error(api.post(CUSTOMERS, json=body), 400, message)
    assert state() == before


def test_an_email_of_100_characters_and_any_format_is_accepted(api: httpx.Client) -> None:
    email = "x" * 100
    create_customer(api, email)
    create_customer(api, " not an e-mail ")
    assert got_one(api, 1)["Email"] == email
    assert got_one(api, 2)["Email"] == " not an e-mail "  # stored as given


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Email": ""}, "Email must not be empty"),
        ({"Email": " "}, "Email must not be empty"),
        ({"Email": "x" * 101}, "Email must be at most 100 characters (got 101)"),
        ({"Email": "B@EXAMPLE.COM "}, EMAIL_TAKEN),
        ({"Email": ["a"]}, "Email must be a string"),
    ],
)
def test_update_email_rules(api: httpx.Client, state: State, body: dict[str, object], message: str) -> None:
    create_customer(api, "a@example.com")
    create_customer(api, "b@example.com")
    before = state()
    assert_error(api.put(f"{CUSTOMERS}/1", json=body), 400, message)
    assert api.put(CUSTOMERS, json=[{"CustomerID": 1, **body}]).content == array(result(1, 400, message))
    assert state() == before


def test_a_customer_may_keep_or_recase_its_own_email(api: httpx.Client) -> None:
    create_customer(api, "a@example.com")
    assert api.put(f"{CUSTOMERS}/1", json={"Email": "a@example.com"}).status_code == 200
    assert api.put(f"{CUSTOMERS}/1", json={"Email": " A@Example.com"}).status_code == 200
    assert got_one(api, 1)["Email"] == " A@Example.com"
    # Freed by a change or a delete, an e-mail may be taken again.
    create_customer(api, "b@example.com")
    api.put(f"{CUSTOMERS}/2", json={"Email": "c@example.com"})
    assert create_customer(api, "b@example.com") == 3
    api.delete(f"{CUSTOMERS}/3")
    assert create_customer(api, "B@example.com") == 4


def test_two_items_of_one_bulk_put_may_not_take_one_email(api: httpx.Client, state: State) -> None:
    for n in range(1, 4):
        create_customer(api, f"{n}@example.com")
    before = state()
    response = api.put(
        CUSTOMERS,
        json=[
            {"CustomerID": 2, "Email": "new@example.com"},
            {"CustomerID": 1, "Email": " NEW@example.com"},
            {"CustomerID": 3, "BillingCity": "x"},
        ],
    )
    # Items are written in id order: 1 takes the e-mail, 2 is refused.
    assert response.status_code == 206
    assert response.content == array(
        result(2, 400, EMAIL_TAKEN), result(1, 200, UPDATED), result(3, 200, UPDATED)
    )
    assert got_one(api, 1)["Email"] == " NEW@example.com"
    assert got_one(api, 2)["Email"] == "2@example.com"
    assert got_one(api, 3)["BillingCity"] == "x"
    assert state() != before
    # Two customers cannot swap e-mails in one request: each meets the other's (nothing changes).
    before = state()
    response = api.put(
        CUSTOMERS,
        json=[{"CustomerID": 3, "Email": "new@example.com"}, {"CustomerID": 1, "Email": "3@example.com"}],
    )
    assert response.status_code == 400
    assert response.content == array(result(3, 400, EMAIL_TAKEN), result(1, 400, EMAIL_TAKEN))
    assert state() == before


# ---------------------------------------------------------------- D3 groups


def test_customer_group_id_must_be_0_or_a_group_of_the_store(
    server: LiveServer, api: httpx.Client, issue: IssueFn, state: State
) -> None:
    other = issue(store="other.example.com", app="other-app")
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(other)) as client:
        assert create_group(client, Name="Theirs") == 1
        assert create_group(client, Name="Theirs too") == 2
    assert create_group(api) == 1
    create_customer(api, "a@example.com")
    before = state()
    cases: list[tuple[object, str]] = [
        (2, no_such_group(2)),  # another store's group
        (3, no_such_group(3)),
        (2147483647, no_such_group(2147483647)),
        (-1, GROUP_ID_RULE),
        (2147483648, GROUP_ID_RULE),
        ("x", GROUP_ID_RULE),
        (1.5, GROUP_ID_RULE),
        (True, GROUP_ID_RULE),
    ]
    for value, message in cases:
        assert_error(
            api.post(CUSTOMERS, json={"Email": "b@example.com", "CustomerGroupID": value}), 400, message
        )
        assert_error(api.put(f"{CUSTOMERS}/1", json={"CustomerGroupID": value}), 400, message)
        response = api.put(CUSTOMERS, json=[{"CustomerID": 1, "CustomerGroupID": value}])
        assert response.content == array(result(1, 400, message))
    assert state() == before
    assert create_customer(api, "b@example.com", CustomerGroupID=1) == 2
    assert create_customer(api, "c@example.com", CustomerGroupID="1") == 3
    assert api.put(f"{CUSTOMERS}/1", json={"CustomerGroupID": 1}).status_code == 200
    assert [got_one(api, n)["CustomerGroupID"] for n in (1, 2, 3)] == [1, 1, 1]
    assert api.put(CUSTOMERS, json=[{"CustomerID": 1, "CustomerGroupID": 0}]).status_code == 200
    assert got_one(api, 1)["CustomerGroupID"] == 0


def test_deleting_a_customer_never_touches_groups(api: httpx.Client) -> None:
    create_group(api)
    create_customer(api, "a@example.com", CustomerGroupID=1)
    group = api.get("/CustomerGroups/1").content
    assert api.delete(f"{CUSTOMERS}/1").content == array(result(1, 200, "Deleted successfully"))
    assert api.get("/CustomerGroups/1").content == group
    assert_error(api.get(f"{CUSTOMERS}/1"), 404, NOT_FOUND, "1")


# ---------------------------------------------------------------- D4 values


@pytest.mark.parametrize("name", list(MAX_LENGTHS))
def test_every_text_field_has_its_maximum_length(api: httpx.Client, state: State, name: str) -> None:
    create_customer(api, "a@example.com")
    longest = MAX_LENGTHS[name]
    before = state()
    message = f"{name} must be at most {longest} characters (got {longest + 1})"
    too_long = "y" * (longest + 1)
    assert_error(api.post(CUSTOMERS, json={"Email": "b@example.com", name: too_long}), 400, message)
    assert_error(api.put(f"{CUSTOMERS}/1", json={name: too_long}), 400, message)
    assert api.put(CUSTOMERS, json=[{"CustomerID": 1, name: too_long}]).content == array(
        result(1, 400, message)
    )
    assert state() == before
    if name != "Password":
        assert api.put(f"{CUSTOMERS}/1", json={name: "z" * longest}).status_code == 200
        assert got_one(api, 1)[name] == "z" * longest


@pytest.mark.parametrize("name", [*STRINGS, "Email", "Password"])
def test_text_fields_must_be_strings(api: httpx.Client, state: State, name: str) -> None:
    create_customer(api, "a@example.com")
    before = state()
    values: list[object] = [1, True, [], {}]
    for value in values:
        message = f"{name} must be a string"
        assert_error(api.post(CUSTOMERS, json={"Email": "b@example.com", name: value}), 400, message)
        assert_error(api.put(f"{CUSTOMERS}/1", json={name: value}), 400, message)
    assert_error(
        api.put(f"{CUSTOMERS}/1", json={name: "nul \x00"}),
        400,
        f"{name} must be valid Unicode text without NUL characters",
    )
    assert state() == before


def test_integers_are_32_bit_and_flags_read_leniently(api: httpx.Client, state: State) -> None:
    create_customer(api, "a@example.com")
    before = state()
    rule = INT32_RULE.format("ShippingAddressType")
    for value in (2147483648, -2147483649, 1.5, "x", True, [1], "99999999999999999999999999999999"):
        assert_error(
            api.post(CUSTOMERS, json={"Email": "b@example.com", "ShippingAddressType": value}), 400, rule
        )
        assert_error(api.put(f"{CUSTOMERS}/1", json={"ShippingAddressType": value}), 400, rule)
    for flag in FLAGS:
        message = f"{flag} must be true or false, or a number (0 is false)"
        bad_flags: list[object] = ["yes", [], {}, "1"]
        for bad in bad_flags:
            assert_error(api.put(f"{CUSTOMERS}/1", json={flag: bad}), 400, message)
    # Several problems at once: each named, in field order.
    both = api.put(f"{CUSTOMERS}/1", json={"Enabled": "no", "BillingCity": 1})
    assert_error(
        both, 400, "BillingCity must be a string; Enabled must be true or false, or a number (0 is false)"
    )
    assert state() == before
    for value, stored in ((2147483647, 2147483647), (-2147483648, -2147483648), ("12", 12), (3.0, 3)):
        assert api.put(f"{CUSTOMERS}/1", json={"ShippingAddressType": value}).status_code == 200
        assert got_one(api, 1)["ShippingAddressType"] == stored
    response = api.put(
        f"{CUSTOMERS}/1", json={"enabled": 1, "MAILLIST": "TRUE", "NonTaxable": 0.5, "ResetPassword": "false"}
    )
    assert response.status_code == 200
    one = got_one(api, 1)
    assert (one["Enabled"], one["MailList"], one["NonTaxable"], one["ResetPassword"]) == (
        True,
        True,
        True,
        False,
    )


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"1", b"null", b'[{"Email":"a@example.com"}]'])
def test_a_post_body_must_be_an_object(api: httpx.Client, state: State, body: bytes) -> None:
    before = state()
    assert_error(api.post(CUSTOMERS, content=body, headers=JSON), 400, NOT_AN_OBJECT)
    assert_error(api.put(f"{CUSTOMERS}/1", content=body, headers=JSON), 400, NOT_AN_OBJECT)
    assert state() == before


# ---------------------------------------------------------------- PUT


def test_put_changes_only_what_is_given_and_the_path_id_wins(api: httpx.Client, server: LiveServer) -> None:
    create_customer(api, "a@example.com", BillingCity="City", Comments="c", Enabled=True)
    create_customer(api, "b@example.com")
    response = api.put(
        f"{CUSTOMERS}/1",
        json={"CustomerID": 2, "BillingCity": None, "comments": "", "MailList": True, "TotalStoreCredit": 99},
    )
    assert response.content == array(result(1, 200, UPDATED))
    assert got(api, 1) == array(
        customer_bytes(1, "a@example.com", BillingCity="City", Comments="", Enabled=True, MailList=True)
    )
    assert got(api, 2) == array(customer_bytes(2, "b@example.com"))


def test_bulk_put_all_updated_mixed_and_all_missing(api: httpx.Client, state: State) -> None:
    create_customer(api, "a@example.com")
    create_customer(api, "b@example.com")
    response = api.put(
        CUSTOMERS, json=[{"CustomerID": 2, "BillingCity": "B"}, {"customerid": "1", "BillingCity": "A"}]
    )
    assert response.status_code == 200
    assert response.content == array(result(2, 200, UPDATED), result(1, 200, UPDATED))
    assert got(api, 1) == array(customer_bytes(1, "a@example.com", BillingCity="A"))
    response = api.put(
        CUSTOMERS,
        json=[
            {"CustomerID": 9, "BillingCity": "x"},
            {"CustomerID": 1, "BillingCity": "AA"},
            {"BillingCity": "x"},
            {"CustomerID": 0},
            {"CustomerID": 2, "Enabled": "maybe"},
            "nope",
        ],
    )
    assert response.status_code == 206
    assert response.content == array(
        result(9, 404, SOME_NOT_FOUND),
        result(1, 200, UPDATED),
        result("", 400, "CustomerID is required"),
        result(0, 400, BAD_ITEM_ID),
        result(2, 400, "Enabled must be true or false, or a number (0 is false)"),
        result("", 400, "Each item must be a JSON object (a Customer)"),
    )
    assert got_one(api, 1)["BillingCity"] == "AA"
    before = state()
    response = api.put(CUSTOMERS, json=[{"CustomerID": 7, "BillingCity": "x"}, {"CustomerID": 8}])
    assert response.status_code == 404
    assert response.content == array(result(7, 404, SOME_NOT_FOUND), result(8, 404, SOME_NOT_FOUND))
    for bad, message in (
        ({"CustomerID": 1}, "The request body must be a JSON array of Customer objects"),
        ([], "The request body must contain at least one Customer"),
    ):
        assert_error(api.put(CUSTOMERS, json=bad), 400, message)
    assert state() == before


# ---------------------------------------------------------------- D5 passwords, D6 credit


def test_passwords_are_hashed_never_shown_and_kept_unless_replaced(
    api: httpx.Client, server: LiveServer
) -> None:
    create_customer(api, "a@example.com", Password="first-secret", ResetPassword=True)
    create_customer(api, "b@example.com", Password="")
    create_customer(api, "c@example.com")
    first = password_hash(server, 1)
    assert first is not None and "first-secret" not in first
    assert verify_password("first-secret", first) and not verify_password("other", first)
    assert password_hash(server, 2) is None and password_hash(server, 3) is None
    one = got_one(api, 1)
    assert (one["Password"], one["ResetPassword"]) == ("", True)
    # GET-modify-PUT is safe: "" keeps the password, as null and absence do.
    assert api.put(f"{CUSTOMERS}/1", json={**one, "BillingCity": "x"}).status_code == 200
    assert api.put(f"{CUSTOMERS}/1", json={"Password": None}).status_code == 200
    assert api.put(CUSTOMERS, json=[{"CustomerID": 1, "Password": ""}]).status_code == 200
    assert password_hash(server, 1) == first
    assert (
        api.put(f"{CUSTOMERS}/1", json={"Password": "second-secret", "ResetPassword": False}).status_code
        == 200
    )
    second = password_hash(server, 1)
    assert second is not None and second != first and verify_password("second-secret", second)
    assert api.put(CUSTOMERS, json=[{"CustomerID": 2, "Password": "third"}]).status_code == 200
    third = password_hash(server, 2)
    assert third is not None and verify_password("third", third)
    assert got_one(api, 1)["ResetPassword"] is False
    # Never in a response nor in the audit log.
    for response in (api.get(CUSTOMERS), api.get(f"{CUSTOMERS}/1"), api.get(f"{CUSTOMERS}/2")):
        assert b"secret" not in response.content and b"third" not in response.content
        assert all(c["Password"] == "" for c in response.json())
    entries = customer_audit(server)
    assert len(entries) == 8
    for _action, _item, before, after in entries:
        for text in (before, after):
            if text is not None:
                assert "secret" not in text and "third" not in text and "scrypt" not in text
                assert orjson.loads(text)["Password"] == ""


def test_total_store_credit_sent_is_ignored(api: httpx.Client) -> None:
    create_customer(api, "a@example.com", TotalStoreCredit=50)
    create_customer(api, "b@example.com", TotalStoreCredit="not a number")
    assert api.put(f"{CUSTOMERS}/1", json={"TotalStoreCredit": [1]}).status_code == 200
    assert api.put(CUSTOMERS, json=[{"CustomerID": 2, "TotalStoreCredit": 3.5}]).status_code == 200
    assert got(api, 1) == array(customer_bytes(1, "a@example.com"))
    assert got(api, 2) == array(customer_bytes(2, "b@example.com"))


# ---------------------------------------------------------------- the audit log


def test_every_change_is_audited_as_a_customer(api: httpx.Client, server: LiveServer) -> None:
    create_customer(api, "a@example.com", BillingCity="A")
    api.put(f"{CUSTOMERS}/1", json={"BillingCity": "B"})
    api.put(CUSTOMERS, json=[{"CustomerID": 1, "BillingCity": "C"}])
    api.delete(f"{CUSTOMERS}/1")
    a, b, c = (customer_bytes(1, "a@example.com", BillingCity=city).decode() for city in "ABC")
    assert customer_audit(server) == [
        ("create", 1, None, a),
        ("update", 1, a, b),
        ("update", 1, b, c),
        ("delete", 1, c, None),
    ]


# ---------------------------------------------------------------- D8 the hidden last-update time


def _stamp(when: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(when))


def test_lastupdate_selects_by_the_hidden_time_bounds_inclusive(
    api: httpx.Client, server: LiveServer
) -> None:
    create_customer(api, "a@example.com")
    create_customer(api, "b@example.com")
    create_customer(api, "c@example.com")
    # Place the customers at known times (the clock has 1-second resolution in the filter).
    with server.db.write() as conn:
        for customer_id, when in ((1, 1704067200.0), (2, 1704153600.0), (3, 1704153600.5)):  # 2024-01-01, -02
            conn.execute(
                sa.update(tables.customers)
                .where(tables.customers.c.customer_id == customer_id)
                .values(updated_at=when)
            )
    assert ids_of(api.get(CUSTOMERS, params={"lastupdatestart": "01/02/2024"})) == [2, 3]
    assert_error(api.get(CUSTOMERS, params={"lastupdatestart": "01/02/2024 00:00:01"}), 404, NO_CUSTOMERS)
    assert ids_of(api.get(CUSTOMERS, params={"lastupdateend": "01/02/2024"})) == [1, 2]
    assert ids_of(api.get(CUSTOMERS, params={"lastupdateend": "01/01/2024 00:00:00"})) == [1]
    assert ids_of(
        api.get(CUSTOMERS, params={"lastupdatestart": "01/01/2024", "lastupdateend": "01/01/2024 23:59:59"})
    ) == [1]
    count = api.get(CUSTOMERS, params={"lastupdatestart": "12/31/2023 23:00:00", "countonly": "1"})
    assert count.content == b'{"TotalCount":3}'
    # A change moves a customer's time to now; the object never shows it.
    start = time.time()
    api.put(f"{CUSTOMERS}/1", json={"Comments": "changed"})
    assert ids_of(api.get(CUSTOMERS, params={"lastupdatestart": _stamp(start - 1)})) == [1]
    assert ids_of(api.get(CUSTOMERS, params={"lastupdateend": "01/03/2024"})) == [2, 3]
    assert set(got_one(api, 1)) == set(WIRE_FIELDS)


def test_lastupdate_of_new_and_changed_customers_at_the_real_clock(api: httpx.Client) -> None:
    start = time.time()
    create_customer(api, "a@example.com")
    create_customer(api, "b@example.com")
    assert ids_of(api.get(CUSTOMERS, params={"lastupdatestart": _stamp(start - 1)})) == [1, 2]
    assert_error(api.get(CUSTOMERS, params={"lastupdateend": _stamp(start - 2)}), 404, NO_CUSTOMERS)
    # Change one in the next second: a bound at that second's start parts them.
    boundary = int(time.time()) + 1
    time.sleep(boundary + 0.05 - time.time())
    api.put(CUSTOMERS, json=[{"CustomerID": 2, "MailList": True}])
    assert ids_of(api.get(CUSTOMERS, params={"lastupdatestart": _stamp(boundary)})) == [2]
    assert ids_of(api.get(CUSTOMERS, params={"lastupdateend": _stamp(boundary)})) == [1]


# ---------------------------------------------------------------- scopes


def test_a_read_only_token_reads_but_cannot_write_customers(
    server: LiveServer, issue: IssueFn, api: httpx.Client, state: State
) -> None:
    create_customer(api, "a@example.com")
    reader = issue(app="reader", scope="read")
    before = state()
    with plain_client(server.base_url + "/3dCartWebAPI/v1", headers_for(reader)) as client:
        assert ids_of(client.get(CUSTOMERS)) == [1]
        assert client.get(f"{CUSTOMERS}/1").status_code == 200
        assert_error(client.post(CUSTOMERS, json={"Email": "b@example.com"}), 401, NO_WRITE)
        assert_error(client.put(CUSTOMERS, json=[{"CustomerID": 1, "BillingCity": "x"}]), 401, NO_WRITE)
        assert_error(client.put(f"{CUSTOMERS}/1", json={"BillingCity": "x"}), 401, NO_WRITE)
        assert_error(client.delete(f"{CUSTOMERS}/1"), 401, NO_WRITE)
    assert state() == before


# ---------------------------------------------------------------- concurrency


@pytest.fixture
def two_clients(server: LiveServer, creds: Issued) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    headers = headers_for(creds)
    with (
        plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as one,
        plain_client(server.base_url + "/3dCartWebAPI/v1", headers) as two,
    ):
        yield one, two


def _post_at_once(
    barrier: threading.Barrier, responses: list[httpx.Response], client: httpx.Client, body: dict[str, object]
) -> None:
    barrier.wait()
    responses.append(client.post(CUSTOMERS, json=body))


def test_two_racing_creates_of_one_email_make_one_customer(
    two_clients: tuple[httpx.Client, httpx.Client], api: httpx.Client, server: LiveServer
) -> None:
    for round_ in range(6):
        barrier = threading.Barrier(2)
        responses: list[httpx.Response] = []
        email = f"race{round_}@example.com"
        body = {"Password": "pw" if round_ % 2 else ""}  # with a password, the hash takes ~0.1 s
        threads = [
            threading.Thread(
                target=_post_at_once, args=(barrier, responses, client, {**body, "Email": spelling})
            )
            for client, spelling in zip(two_clients, (email, email.upper()), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 400], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 400)
        assert_error(refused, 400, EMAIL_TAKEN)
    count = api.get(CUSTOMERS, params={"countonly": "1"})
    assert count.content == b'{"TotalCount":6}'
    assert len(customer_audit(server)) == 6


def test_text_that_case_folds_longer_is_stored_and_found(api: httpx.Client) -> None:
    # U+0390 case-folds to three characters: 100 of them make a 300-character filter key.
    email, city = "\u0390" * 99 + "X", "\u0390" * 100
    assert create_customer(api, email, BillingCity=city, BillingFirstName="\u0390" * 50) == 1
    assert got_one(api, 1)["Email"] == email
    assert ids_of(api.get(CUSTOMERS, params={"email": email.casefold(), "city": city})) == [1]
    assert_error(api.post(CUSTOMERS, json={"Email": email.lower()}), 400, EMAIL_TAKEN)
    assert api.put(f"{CUSTOMERS}/1", json={"BillingState": "\u0390" * 100}).status_code == 200
    assert ids_of(api.get(CUSTOMERS, params={"state": "\u0390" * 100})) == [1]


def test_two_racing_updates_to_one_email_change_one_customer(
    two_clients: tuple[httpx.Client, httpx.Client], api: httpx.Client
) -> None:
    for n in range(1, 9):
        create_customer(api, f"{n}@example.com")
    for round_ in range(4):
        barrier = threading.Barrier(2)
        responses: list[httpx.Response] = []
        email = f"race{round_}@example.com"
        first, second = 2 * round_ + 1, 2 * round_ + 2
        threads = [
            threading.Thread(target=_put_at_once, args=(barrier, responses, client, customer_id, email))
            for client, customer_id in zip(two_clients, (first, second), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.status_code for r in responses) == [200, 400], [r.text for r in responses]
        assert_error(next(r for r in responses if r.status_code == 400), 400, EMAIL_TAKEN)
        emails = {first: got_one(api, first)["Email"], second: got_one(api, second)["Email"]}
        kept = [(customer_id, e) for customer_id, e in emails.items() if e != email]
        assert len(kept) == 1 and kept[0][1] == f"{kept[0][0]}@example.com", emails


def _put_at_once(
    barrier: threading.Barrier,
    responses: list[httpx.Response],
    client: httpx.Client,
    customer_id: int,
    email: str,
) -> None:
    barrier.wait()
    responses.append(client.put(f"{CUSTOMERS}/{customer_id}", json={"Email": email}))


def test_an_idempotency_keys_fingerprint_cannot_be_guessed_back_to_the_password(
    api: httpx.Client, server: LiveServer
) -> None:
    """The key's stored fingerprint is an unsalted hash of the request: it is taken of the body
    with its passwords redacted (D5). So a retry with the same key and another password counts
    as the same request: the first reply is replayed, and the first password kept."""
    import hashlib

    body = b'{"Email":"jane@example.com","Password":"sunshine7"}'
    headers = {"Idempotency-Key": "create-jane", "Content-Type": "application/json"}
    first = api.post(CUSTOMERS, content=body, headers=headers)
    assert first.status_code == 201
    with server.db.read() as conn:
        (stored,) = conn.execute(sa.select(tables.idempotency_keys.c.fingerprint)).scalars().all()
    assert stored != hashlib.sha256(b"POST\n" + body).hexdigest()
    redacted = b'{"Email":"jane@example.com","Password":"[redacted]"}'
    assert stored == hashlib.sha256(b"POST\n" + redacted).hexdigest()
    again = api.post(CUSTOMERS, content=body.replace(b"sunshine7", b"moonlight8"), headers=headers)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    with server.db.read() as conn:
        (hashed,) = conn.execute(sa.select(tables.customers.c.password_hash)).scalars().all()
    assert verify_password("sunshine7", hashed)


def test_a_put_that_keeps_the_customers_group_does_not_lock_the_group_again(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GET-modify-PUT sends the group unchanged. Holding it again (after the customer's row)
    would take the two locks in the other order than the group's delete, which deadlocked on
    PostgreSQL; a group that changes is held."""
    from cartgroups.storage.customers import CustomerWrites

    group, other = create_group(api, Name="Wholesale"), create_group(api, Name="Retail")
    assert api.post(CUSTOMERS, json={"Email": "a@example.com", "CustomerGroupID": group}).status_code == 201
    held: list[int] = []
    real = CustomerWrites.hold_group

    async def counted(self: CustomerWrites, *, store_id: int, group_id: int) -> bool:
        held.append(group_id)
        return await real(self, store_id=store_id, group_id=group_id)

    monkeypatch.setattr(CustomerWrites, "hold_group", counted)
    whole = api.get(f"{CUSTOMERS}/1").json()[0]
    assert api.put(f"{CUSTOMERS}/1", json={**whole, "BillingCity": "Paris"}).status_code == 200
    assert api.put(CUSTOMERS, json=[{**whole, "BillingCity": "Rome"}]).status_code == 200
    assert held == []
    assert api.put(f"{CUSTOMERS}/1", json={"CustomerGroupID": other}).status_code == 200
    assert held == [other]
