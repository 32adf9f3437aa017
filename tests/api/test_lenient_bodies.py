"""Bodies in Json.NET's syntax (issue #17 item 4) over HTTP, on both databases: POST, bulk PUT and
PUT by id read comments, trailing commas, single quotes, unquoted names and 0/1 for booleans as
the live service does; what Json.NET refuses too is a 400 that writes nothing."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from cartgroups.api import wire
from tests.api.support import COLLECTION, JSON, State, assert_error, item_path, stored_one
from tests.conftest import create_group, result_body

NOT_JSON = "The request body is not valid JSON: "
FLAG_RULE = "must be true or false, or a number (0 is false)"

# What a hand-written or JavaScript-generated body looks like: every extra of Json.NET's syntax.
LENIENT_GROUP = b"""// a customer group, written by hand
{
  Name: 'Wholesale',               /* unquoted name, single quotes */
  'Description': 'it\\'s "ours"',
  "MinimumOrder": 101.25,
  NonTaxable: 1,                   // 0/1 for a boolean
  AllowRegistration: 0,
  DisableRewardPoints: true,
  AutoApprove: 'TRUE',
  RegistrationMessage: "Welcome",
  PriceLevel: 3,                   // a trailing comma follows
}
"""
LENIENT_STORED = {
    "Name": "Wholesale",
    "Description": 'it\'s "ours"',
    "MinimumOrder": Decimal("101.25"),
    "NonTaxable": True,
    "AllowRegistration": False,
    "DisableRewardPoints": True,
    "AutoApprove": True,
    "RegistrationMessage": "Welcome",
    "PriceLevel": 3,
}


def _stored(client: httpx.Client, group_id: int) -> dict[str, object]:
    group = stored_one(client, group_id)
    group["MinimumOrder"] = Decimal(str(group["MinimumOrder"]))
    return group


def test_post_reads_json_nets_syntax_and_stores_every_value(api: httpx.Client) -> None:
    response = api.post(COLLECTION, content=LENIENT_GROUP, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.content == result_body(201, 1, "Created successfully")
    assert _stored(api, 1) == {"CustomerGroupID": 1, **LENIENT_STORED}


def test_put_by_id_reads_json_nets_syntax(api: httpx.Client) -> None:
    group_id = create_group(api, Name="Retail", PriceLevel=1)
    response = api.put(item_path(group_id), content=LENIENT_GROUP, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.content == result_body(200, group_id, "updated successfully")
    assert _stored(api, group_id) == {"CustomerGroupID": group_id, **LENIENT_STORED}


def test_bulk_put_reads_json_nets_syntax(api: httpx.Client) -> None:
    for n in (1, 2):
        create_group(api, Name=f"g{n}", PriceLevel=1)
    body = b"""[
      {CustomerGroupID: 2, Name: 'two', NonTaxable: 1,},  // first
      /* the second */ {'CustomerGroupID': '1', "Name": 'one', AutoApprove: 2.5},
    ]"""
    response = api.put(COLLECTION, content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert [r["Status"] for r in response.json()] == ["200", "200"]
    two, one = _stored(api, 2), _stored(api, 1)
    assert (two["Name"], two["NonTaxable"], two["AutoApprove"]) == ("two", True, False)
    assert (one["Name"], one["NonTaxable"], one["AutoApprove"]) == ("one", False, True)


@pytest.mark.parametrize(
    ("sent", "flag"),
    [
        ("0", False),
        ("1", True),
        ("-1", True),
        ("2", True),
        ("0.0", False),
        ("0.5", True),  # Json.NET reads 0.5 as a double and Convert.ToBoolean(0.5) is true
        ("1e-30", True),
        ("0E+5", False),
        ("true", True),
        ("'false'", False),
        ('"True"', True),
    ],
)
def test_a_number_is_a_boolean_as_json_net_reads_it(api: httpx.Client, sent: str, flag: bool) -> None:
    body = f'{{"Name":"x","NonTaxable":{sent},"AllowRegistration":{sent}}}'.encode()
    response = api.post(COLLECTION, content=body, headers=JSON)
    assert response.status_code == 201, response.text
    group = _stored(api, 1)
    assert (group["NonTaxable"], group["AllowRegistration"]) == (flag, flag)


@pytest.mark.parametrize(
    ("sent", "field"),
    [("'1'", "NonTaxable"), ("'yes'", "AutoApprove"), ("[0]", "AllowRegistration"), ("{}", "NonTaxable")],
)
def test_what_json_net_does_not_read_as_a_boolean_is_400(
    api: httpx.Client, state: State, sent: str, field: str
) -> None:
    before = state()
    body = f"{{Name:'x',{field}:{sent},}}".encode()
    assert_error(api.post(COLLECTION, content=body, headers=JSON), 400, f"{field} {FLAG_RULE}")
    assert state() == before


BROKEN = [
    ("{Name:'x',,}", "Expecting property name (line 1, column 11)"),
    ("{Name:'x'", "Expecting ',' delimiter (line 1, column 10)"),
    ("{Name:'x}", "Unterminated string starting at (line 1, column 7)"),
    ("{Name /* c */ :'x'}", "Expecting ':' delimiter (line 1, column 7)"),
    ("{Name:'x'} /* open", "Unterminated comment starting at (line 1, column 12)"),
    ("{Na-me:'x'}", "Expecting ':' delimiter (line 1, column 4)"),
    ("{Name:'x',\n MinimumOrder: 0x10}", "Expecting ',' delimiter (line 2, column 17)"),
    ("{Name:'x', MinimumOrder: NaN,}", "NaN is not a number"),
    ("{Name:'a\\qb'}", "Invalid \\escape (line 1, column 9)"),
]


@pytest.mark.parametrize(("body", "message"), BROKEN)
def test_what_json_net_refuses_too_is_400_and_writes_nothing(
    api: httpx.Client, state: State, body: str, message: str
) -> None:
    group_id = create_group(api, Name="Keep")
    before = state()
    shift = len(f"CustomerGroupID:{group_id},") + 1  # the bulk body's first line is longer
    requests = [
        ("POST", COLLECTION, body, message),
        ("PUT", item_path(group_id), body, message),
        (
            "PUT",
            COLLECTION,
            "[" + body.replace("{", f"{{CustomerGroupID:{group_id},", 1) + "]",
            _shifted(message, shift),
        ),
    ]
    for method, path, content, expected in requests:
        response = api.request(method, path, content=content.encode(), headers=JSON)
        # error_body writes the message as given: a backslash in it is escaped here, as on the wire
        assert_error(response, 400, (NOT_JSON + expected).replace("\\", "\\\\"))
        assert state() == before


def _shifted(message: str, columns: int) -> str:
    """The message for the same error columns further on its first line."""
    if "(line 1, column " not in message:
        return message
    head, _, tail = message.partition("(line 1, column ")
    return f"{head}(line 1, column {int(tail.rstrip(')')) + columns})"


def test_a_large_body_in_json_nets_syntax_is_400_and_writes_nothing(api: httpx.Client, state: State) -> None:
    """The lenient reader costs a worker ~0.2 s a megabyte, so it reads bodies of up to 256 KiB:
    a larger one must be strict JSON. The answer names the strict parser's finding and the bound."""
    group_id = create_group(api, Name="Keep")
    before = state()
    padding = "x" * (wire.LENIENT_MAX_CHARS + 1)
    lenient = f"{{Name:'big', Description:'{padding}',}}"
    response = api.post(COLLECTION, content=lenient.encode(), headers=JSON)
    assert_error(
        response,
        400,
        NOT_JSON
        + "Expecting property name enclosed in double quotes (line 1, column 2); "
        + wire.LENIENT_LIMITED,
    )
    assert state() == before
    strict = f'{{"Name":"big","Description":"{padding[:65535]}"}}' + " " * wire.LENIENT_MAX_CHARS
    assert api.post(COLLECTION, content=strict.encode(), headers=JSON).status_code == 201
    assert stored_one(api, group_id + 1)["Description"] == padding[:65535]
