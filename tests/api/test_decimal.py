"""MinimumOrder is money: stored and returned exactly, written the Json.NET way (``5.0``)."""

from __future__ import annotations

import httpx

from tests.api.support import (
    COLLECTION,
    DECIMAL_RULE,
    JSON,
    State,
    assert_error,
    item_path,
    record,
    stored,
)
from tests.conftest import create_group


def _minimum_order_bytes(client: httpx.Client, group_id: int) -> bytes:
    body = stored(client, group_id)
    start = body.index(b'"MinimumOrder":') + len(b'"MinimumOrder":')
    return body[start : body.index(b",", start)]


# (JSON text of the value as sent, bytes the API must give back)
EXACT = [
    ("0.1", b"0.1"),
    ("101.25", b"101.25"),
    ("34158822.957761675", b"34158822.957761675"),
    ("2159148.3678348362", b"2159148.3678348362"),
    ("1.50", b"1.50"),
    ("5", b"5.0"),
    ("0", b"0.0"),
    ('"12.5"', b"12.5"),
    ('"7"', b"7.0"),
    ("1e3", b"1000.0"),
    ("1.5E2", b"150.0"),
    ("-0", b"0.0"),
    ("-0.0", b"0.0"),
    ("0.0000000000000000000000000001", b"0.0000000000000000000000000001"),
    ("79228162514264337593543950335", b"79228162514264337593543950335.0"),
    ("123456789012345678.123456789", b"123456789012345678.123456789"),
    # more significant digits than the default decimal context's 28: still exact
    ("12345678901234567890.123456789012345678", b"12345678901234567890.123456789012345678"),
    (
        "99999999999999999999.0000000000000000000000000001",
        b"99999999999999999999.0000000000000000000000000001",
    ),
]


def test_create_stores_and_returns_the_exact_decimal(api: httpx.Client) -> None:
    for group_id, (sent, returned) in enumerate(EXACT, start=1):
        content = f'{{"Name":"x","MinimumOrder":{sent}}}'.encode()
        assert api.post(COLLECTION, content=content, headers=JSON).status_code == 201, sent
        assert _minimum_order_bytes(api, group_id) == returned, sent


def test_update_by_id_stores_the_exact_decimal(api: httpx.Client) -> None:
    create_group(api, MinimumOrder=3)
    for sent, returned in EXACT:
        content = f'{{"MinimumOrder":{sent}}}'.encode()
        assert api.put(item_path(1), content=content, headers=JSON).status_code == 200, sent
        assert _minimum_order_bytes(api, 1) == returned, sent


def test_bulk_update_stores_exact_decimals(api: httpx.Client) -> None:
    create_group(api)
    create_group(api)
    content = b'[{"CustomerGroupID":1,"MinimumOrder":0.1},{"CustomerGroupID":2,"MinimumOrder":1.50}]'
    assert api.put(COLLECTION, content=content, headers=JSON).status_code == 200
    assert _minimum_order_bytes(api, 1) == b"0.1"
    assert _minimum_order_bytes(api, 2) == b"1.50"


def test_list_writes_decimals_the_same_way(api: httpx.Client) -> None:
    for sent in ("0.1", "5", "34158822.957761675"):
        content = f'{{"Name":"x","MinimumOrder":{sent}}}'.encode()
        assert api.post(COLLECTION, content=content, headers=JSON).status_code == 201
    body = api.get(COLLECTION).content
    assert b'"MinimumOrder":0.1,' in body
    assert b'"MinimumOrder":5.0,' in body
    assert b'"MinimumOrder":34158822.957761675,' in body


REJECTED = [
    ("-1", "MinimumOrder must not be negative"),
    ("-0.01", "MinimumOrder must not be negative"),
    ('"-5"', "MinimumOrder must not be negative"),
    ("-94982155.70143786", "MinimumOrder must not be negative"),
    ("0.00000000000000000000000000001", DECIMAL_RULE),  # 29 decimal places
    ("1e-30", DECIMAL_RULE),
    ("79228162514264337593543950336", DECIMAL_RULE),
    ("1e30", DECIMAL_RULE),
    ('"abc"', "MinimumOrder must be a number"),
    ('""', "MinimumOrder must be a number"),
    ("true", "MinimumOrder must be a number"),
    ("[1]", "MinimumOrder must be a number"),
    ('"NaN"', "MinimumOrder must be a number"),
]


def test_create_rejects_bad_money(api: httpx.Client, state: State) -> None:
    create_group(api)
    before = state()
    for sent, message in REJECTED:
        content = f'{{"Name":"x","MinimumOrder":{sent}}}'.encode()
        response = api.post(COLLECTION, content=content, headers=JSON)
        assert (response.status_code, response.json()[0]["Message"]) == (400, message), sent
        assert_error(response, 400, message)
    assert state() == before


def test_update_rejects_bad_money(api: httpx.Client, state: State) -> None:
    create_group(api, MinimumOrder="101.25")
    before = state()
    for sent, message in REJECTED:
        content = f'{{"MinimumOrder":{sent}}}'.encode()
        response = api.put(item_path(1), content=content, headers=JSON)
        assert (response.status_code, response.json()[0]["Message"]) == (400, message), sent
        assert_error(response, 400, message)
    assert state() == before
    assert _minimum_order_bytes(api, 1) == b"101.25"


def test_bulk_rejects_bad_money_per_item(api: httpx.Client, state: State) -> None:
    create_group(api, MinimumOrder="101.25")
    before = state()
    content = b'[{"CustomerGroupID":1,"MinimumOrder":-1}]'
    response = api.put(COLLECTION, content=content, headers=JSON)
    assert response.status_code == 400
    assert response.content == b"[" + record(1, 400, "MinimumOrder must not be negative") + b"]"
    assert state() == before
