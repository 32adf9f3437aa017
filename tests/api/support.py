"""Small helpers shared by the HTTP tests: exact expected bytes and one-line assertions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from cartgroups.service.credentials import Issued
from tests.conftest import error_body

State = Callable[[], list[tuple[object, ...]]]
IssueFn = Callable[..., Issued]

JSON = {"Content-Type": "application/json"}
COLLECTION = "/CustomerGroups"

# Text and amounts that stress JSON writing: every control character, quotes and backslashes,
# characters outside ASCII and the BMP, the three Json.NET escapes beyond JSON's own (U+2028,
# U+2029, U+0085), and decimals of every shape the API accepts.
AWKWARD_TEXT = [
    "".join(chr(c) for c in range(1, 32)),
    'quote " backslash \\ slash / del \x7f',
    "été \u2028 \u2029 \u0085 \ufeff \U0001f600 \U0010ffff",
    "  spaces kept  ",
]
AWKWARD_AMOUNTS = [
    "0",
    "0.0",
    "1.50",
    "100",
    "1E2",
    "0.0000001",
    "34158822.957761675",
    "79228162514264337593543950335",
]


def awkward_group(n: int) -> dict[str, object]:
    """The n-th group of awkward values (a body for POST or PUT): every text, amount and flag
    pattern comes round as n goes from 0 to len(AWKWARD_AMOUNTS) - 1."""
    text = AWKWARD_TEXT[n % len(AWKWARD_TEXT)]
    return {
        "Name": f"{n} {text}"[:150],
        "Description": text,
        "RegistrationMessage": text[::-1],
        "MinimumOrder": AWKWARD_AMOUNTS[n],
        "NonTaxable": n % 2 == 0,
        "AllowRegistration": n % 3 == 0,
        "DisableRewardPoints": n % 2 == 1,
        "AutoApprove": n % 3 == 1,
        "PriceLevel": 1 + n % 10,
    }


# Messages fixed by the seed page or the wire spec, or decided by the project.
NO_GROUPS = "There are no Customer Groups."
GROUP_NOT_FOUND = "The specified Customer Group does not exist."
OFFSET_PAST_END = "Offset amount exceeds the total number of records"
REJECTED = "Invalid credentials: the SecureURL, PrivateKey and Token do not form a valid authorization"
NO_READ = "The application is not authorized to read this store's data"
NO_WRITE = "The application is not authorized to change this store's data"
BAD_PATH_ID = "CustomerGroupID in the URL must be an integer from 1 to 2147483647"
BAD_ITEM_ID = "CustomerGroupID must be an integer from 1 to 2147483647"
NOT_AN_OBJECT = "The request body must be a JSON object (a CustomerGroup)"
LIMIT_RULE = "limit must be an integer from 1 to 500"
OFFSET_RULE = "offset must be a whole number; the first record is 1"
DECIMAL_RULE = "MinimumOrder must be at most 79228162514264337593543950335 with at most 28 decimal places"
LEVEL_RULE = "PriceLevel must be an integer from -2147483648 to 2147483647"
UI_LEVEL_RULE = "PriceLevel must be an integer from 1 to 10"  # with the setting price_level_1_to_10


def item_path(group_id: object) -> str:
    return f"{COLLECTION}/{group_id}"


def json_net_text(value: str) -> str:
    """A JSON string as Json.NET writes it: raw UTF-8, control characters, quote and backslash
    escaped as JSON requires, and U+0085, U+2028, U+2029 escaped too (what Python's json leaves
    raw)."""
    written = json.dumps(value, ensure_ascii=False)
    return written.replace("\u0085", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def group_bytes(
    group_id: int,
    name: str = "Wholesale",
    *,
    description: str = "",
    minimum_order: str = "0.0",
    non_taxable: bool = False,
    allow_registration: bool = False,
    disable_reward_points: bool = False,
    auto_approve: bool = False,
    registration_message: str = "",
    price_level: int = 0,
) -> bytes:
    """One CustomerGroup exactly as the wire carries it: wire field order, compact, raw UTF-8
    but for the three characters Json.NET escapes beyond JSON's own (json_net_text)."""

    def text(value: str) -> str:
        return json_net_text(value)

    def flag(value: bool) -> str:
        return "true" if value else "false"

    return (
        f'{{"CustomerGroupID":{group_id},"Name":{text(name)},"Description":{text(description)},'
        f'"MinimumOrder":{minimum_order},"NonTaxable":{flag(non_taxable)},'
        f'"AllowRegistration":{flag(allow_registration)},'
        f'"DisableRewardPoints":{flag(disable_reward_points)},"AutoApprove":{flag(auto_approve)},'
        f'"RegistrationMessage":{text(registration_message)},"PriceLevel":{price_level}}}'
    ).encode()


def array(*objects: bytes) -> bytes:
    return b"[" + b",".join(objects) + b"]"


def record(group_id: object, status: int, message: str) -> bytes:
    """One bulk result record (no brackets)."""
    return (
        f'{{"Key":"CustomerGroupID","Value":"{group_id}","Status":"{status}","Message":"{message}"}}'
    ).encode()


def assert_error(response: httpx.Response, status: int, message: str, value: str = "") -> None:
    """Status, exact error-record bytes and the JSON content type."""
    assert response.status_code == status, response.text
    assert response.content == error_body(status, message, value)
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def stored(client: httpx.Client, group_id: int) -> bytes:
    """The bytes GET /CustomerGroups/{id} returns (asserting it is found)."""
    response = client.get(item_path(group_id))
    assert response.status_code == 200, response.text
    return response.content


def stored_one(client: httpx.Client, group_id: int) -> dict[str, Any]:
    body = json.loads(stored(client, group_id))
    assert isinstance(body, list) and len(body) == 1
    return dict(body[0])


def ids_of(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [int(group["CustomerGroupID"]) for group in response.json()]
