"""Numbers with huge exponents on every numeric path of the API and the sandbox control API
(issue #15, item 1): ``int(Decimal("1e1000000"))`` is quadratic and held a worker for a minute.
Each is answered at once (the client gives up after QUICK seconds) with the field's own rule
message, and writes nothing; a zero with a huge exponent is stored as the plain 0 it is."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cartgroups.api.deadlines import Deadlines
from cartgroups.api.dispatch import read_body
from cartgroups.api.errors import PayloadTooLarge
from cartgroups.storage import tables
from cartgroups.storage.database import Database
from tests.api.hostile import BEYOND_DECIMAL, HOSTILE_NUMBERS, HUGE_EXPONENTS, RawNumber, to_json
from tests.api.support import (
    BAD_ITEM_ID,
    BAD_PATH_ID,
    COLLECTION,
    DECIMAL_RULE,
    JSON,
    LEVEL_RULE,
    LIMIT_RULE,
    OFFSET_RULE,
    State,
    assert_error,
    group_bytes,
    item_path,
    record,
    stored,
)
from tests.conftest import STORE, LiveServer, create_group, error_body, sandbox_state

QUICK = 5.0  # seconds: answered at once, not after the minute the unguarded conversion took
NEGATIVE = "MinimumOrder must not be negative"
TOO_LONG = "The request body is not valid JSON: a number in it is too long"


def _body(**fields: object) -> bytes:
    return to_json({"Name": "x", **fields}).encode()


def _send(client: httpx.Client, method: str, url: str, content: bytes | None = None) -> httpx.Response:
    return client.request(method, url, content=content, headers=JSON, timeout=QUICK)


def _amount_message(text: str) -> str:
    if text in BEYOND_DECIMAL:
        return TOO_LONG
    return NEGATIVE if text.startswith("-") else DECIMAL_RULE


FIELD_CASES = [
    *[pytest.param("PriceLevel", text, LEVEL_RULE, id=f"PriceLevel={text}") for text in HUGE_EXPONENTS],
    *[pytest.param("PriceLevel", text, TOO_LONG, id=f"PriceLevel={text}") for text in BEYOND_DECIMAL],
    *[
        pytest.param("MinimumOrder", text, _amount_message(text), id=f"MinimumOrder={text}")
        for text in (*HOSTILE_NUMBERS, "0E-1000000")
        if text != "0E+1000000"  # a zero: accepted, see below
    ],
]


@pytest.mark.parametrize(("field", "text", "message"), FIELD_CASES)
def test_a_huge_exponent_in_a_field_is_the_fields_400_at_once(
    api: httpx.Client, state: State, field: str, text: str, message: str
) -> None:
    create_group(api)
    before = state()
    content = _body(**{field: RawNumber(text)})
    assert_error(_send(api, "POST", COLLECTION, content), 400, message)
    assert_error(_send(api, "PUT", item_path(1), content), 400, message)
    assert state() == before


def test_a_huge_exponent_in_a_post_bodys_id_is_ignored_at_once(api: httpx.Client) -> None:
    """CustomerGroupID in a POST body is ignored (wire spec); it is not even converted."""
    for number, text in enumerate(HUGE_EXPONENTS, start=1):
        response = _send(api, "POST", COLLECTION, _body(CustomerGroupID=RawNumber(text)))
        assert response.status_code == 201, response.text
        assert response.json()[0]["Value"] == str(number)


def _stored_amount_lengths(db: Database) -> list[int]:
    """How long each stored MinimumOrder and audit entry is, as the database holds it."""
    groups, audit = tables.customer_groups, tables.audit_log
    with db.read() as conn:
        amounts = conn.execute(sa.select(sa.func.length(sa.cast(groups.c.minimum_order, sa.Text)))).scalars()
        entries = conn.execute(sa.select(sa.func.length(audit.c.after_values))).scalars()
        return [*amounts, *entries]


@pytest.mark.parametrize("zero", ["0E+1000000", "-0E+999999", "0.000E+1000000", "0e999999999999999999"])
def test_a_zero_with_a_huge_exponent_is_stored_as_a_plain_zero(
    api: httpx.Client, server: LiveServer, zero: str
) -> None:
    """Every range check passes a zero, whatever its exponent; PostgreSQL's numeric overflowed on
    0E+999999999999999999 (a 500), so an amount with a positive exponent is normalised first."""
    response = _send(api, "POST", COLLECTION, _body(MinimumOrder=RawNumber(zero)))
    assert response.status_code == 201, response.text
    assert stored(api, 1) == b"[" + group_bytes(1, "x", minimum_order="0.0") + b"]"
    create_group(api, Name="y", MinimumOrder="5")
    assert _send(api, "PUT", item_path(2), _body(MinimumOrder=RawNumber(zero))).status_code == 200
    bulk = to_json([{"CustomerGroupID": 1, "MinimumOrder": RawNumber(zero), "Name": "z"}]).encode()
    assert _send(api, "PUT", COLLECTION, bulk).status_code == 200
    assert stored(api, 2) == b"[" + group_bytes(2, "x", minimum_order="0.0") + b"]"
    assert stored(api, 1) == b"[" + group_bytes(1, "z", minimum_order="0.0") + b"]"
    assert max(_stored_amount_lengths(server.db)) < 1000


def test_a_zero_amount_keeps_its_scale(api: httpx.Client) -> None:
    """Only a positive exponent is normalised: 0.00 stays 0.00 (amounts keep the scale given)."""
    _send(api, "POST", COLLECTION, _body(MinimumOrder=RawNumber("0.00")))
    _send(api, "POST", COLLECTION, _body(MinimumOrder=RawNumber("1.5E+3")))
    assert stored(api, 1) == b"[" + group_bytes(1, "x", minimum_order="0.00") + b"]"
    assert stored(api, 2) == b"[" + group_bytes(2, "x", minimum_order="1500.0") + b"]"


def test_huge_exponents_in_bulk_items_are_each_items_400_at_once(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    items: list[dict[str, object]] = []
    expected: list[bytes] = []
    for text in HUGE_EXPONENTS:
        items.append({"CustomerGroupID": RawNumber(text), "Name": "n"})
        expected.append(record(str(Decimal(text)), 400, BAD_ITEM_ID))
        items.append({"CustomerGroupID": 1, "PriceLevel": RawNumber(text)})
        expected.append(record(1, 400, LEVEL_RULE))
    response = _send(api, "PUT", COLLECTION, to_json(items).encode())
    assert response.status_code == 400, response.text
    assert response.content == b"[" + b",".join(expected) + b"]"
    for text in BEYOND_DECIMAL:
        content = to_json([{"CustomerGroupID": RawNumber(text)}]).encode()
        assert_error(_send(api, "PUT", COLLECTION, content), 400, TOO_LONG)
    assert state() == before


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_a_huge_exponent_as_a_path_id_is_400_at_once(api: httpx.Client, state: State, text: str) -> None:
    create_group(api)
    before = state()
    for method in ("GET", "PUT", "DELETE"):
        content = b'{"Name":"y"}' if method == "PUT" else None
        assert_error(_send(api, method, item_path(text), content), 400, BAD_PATH_ID, text)
    assert state() == before


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_a_huge_exponent_in_the_paging_query_is_400_at_once(api: httpx.Client, text: str) -> None:
    create_group(api)
    for name, message in (
        ("limit", LIMIT_RULE),
        ("offset", OFFSET_RULE),
        ("countonly", "countonly must be 0 or 1"),
    ):
        response = api.get(COLLECTION, params={name: text}, timeout=QUICK)
        assert_error(response, 400, message)


async def _one_chunk() -> MutableMapping[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


def test_a_content_length_int_cannot_read_is_no_500() -> None:
    """uvicorn's parser refuses these itself; another ASGI server may pass them on. "²" passes
    str.isdigit() but not int(): the body is read as it comes. 5000 digits are too large."""
    body = asyncio.run(read_body(_one_chunk, {"content-length": "²"}, 100, Deadlines(5)))
    assert body == b"{}"
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_body(_one_chunk, {"content-length": "9" * 5000}, 100, Deadlines(5)))


# The sandbox control API -----------------------------------------------------------------------

FAULT_RULES = {
    "status": "status must be a whole number from 400 to 599",
    "retry_after": "retry_after must be a whole number from 0 to 86400",
    "latency_ms": "latency_ms must be a whole number from 0 to 60000",
    "times": "times must be a whole number from 1 to 1000000",
}
PROBABILITY_RULE = "probability must be a number from 0 to 1"


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_a_huge_exponent_in_a_fault_rule_is_the_fields_400_at_once(
    sandbox: LiveServer, control: httpx.Client, text: str
) -> None:
    before = sandbox_state(sandbox.db)
    cases = {**FAULT_RULES, "probability": PROBABILITY_RULE}
    for field, message in cases.items():
        if field == "probability" and text in ("0E+1000000", "1E-1000000"):
            continue  # a number from 0 to 1: see the next test
        rule: dict[str, object] = {"status": 500, field: RawNumber(text)}
        response = _send(control, "POST", "/faults", to_json(rule).encode())
        expected = TOO_LONG if text in BEYOND_DECIMAL else message
        assert response.status_code == 400, response.text
        assert response.json()[0]["Message"] == expected
    assert sandbox_state(sandbox.db) == before


def test_a_probability_with_a_huge_exponent_but_within_0_to_1_is_taken(control: httpx.Client) -> None:
    for text in ("0E+1000000", "1E-1000000"):
        rule = to_json({"status": 500, "probability": RawNumber(text)}).encode()
        response = _send(control, "POST", "/faults", rule)
        assert response.status_code == 201, response.text
        assert response.json()["probability"] == 0.0


@pytest.mark.parametrize("text", [*HOSTILE_NUMBERS, "²", "١٢", "9" * 5000])
def test_a_hostile_journal_limit_or_fault_id_is_400_at_once(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: object, text: str
) -> None:
    """``²`` passes str.isdigit() but int() refuses it; 5000 digits pass the check but exceed
    int()'s 4300-digit limit: both once gave a 500."""
    before = sandbox_state(sandbox.db)
    response = control.get(f"/stores/{STORE}/journal", params={"limit": text}, timeout=QUICK)
    assert response.status_code == 400, response.text
    assert response.content == error_body(400, "limit must be a whole number from 1 to 10000", text)
    for method in ("GET", "DELETE"):
        response = control.request(method, f"/faults/{text}", timeout=QUICK)
        assert response.status_code == 400, response.text
        assert response.json()[0]["Message"] == f"A fault rule id is a whole number (got {text!r})"
    assert sandbox_state(sandbox.db) == before


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_a_huge_exponent_in_a_seeded_group_is_rejected_at_once(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: object, text: str
) -> None:
    before = sandbox_state(sandbox.db)
    body = to_json([{"Name": "ok"}, {"Name": "x", "PriceLevel": RawNumber(text)}]).encode()
    response = _send(control, "POST", f"/stores/{STORE}/seed", body)
    assert response.status_code == 400, response.text
    if text in BEYOND_DECIMAL:
        assert response.content == error_body(400, TOO_LONG)
    else:
        assert response.content == b'[{"Key":"Error","Value":"1","Status":"400","Message":"%s"}]' % (
            LEVEL_RULE.encode()
        )
    assert sandbox_state(sandbox.db) == before
