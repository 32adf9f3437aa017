"""PUT /CustomerGroups: one record per item in request order, 200/206/404/400 overall,
invalid items never written, valid items written in one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import httpx
import pytest

from cartgroups.storage.postgres.store import PostgresTx
from cartgroups.storage.sqlite.store import SqliteTx
from tests.api.support import (
    BAD_ITEM_ID,
    COLLECTION,
    GROUP_NOT_FOUND,
    JSON,
    LEVEL_RULE,
    State,
    array,
    assert_error,
    group_bytes,
    record,
    stored,
    stored_one,
)
from tests.conftest import LiveServer, create_group

UPDATED = "updated successfully"
NOT_OBJECT_ITEM = "Each item must be a JSON object (a CustomerGroup)"


def _make(client: httpx.Client, count: int) -> None:
    for n in range(1, count + 1):
        assert create_group(client, Name=f"g{n}") == n


def test_all_updated_is_200_with_records_in_request_order(api: httpx.Client) -> None:
    _make(api, 3)
    body = [
        {"CustomerGroupID": 3, "Name": "three"},
        {"CustomerGroupID": 1, "Name": "one"},
        {"CustomerGroupID": 2, "PriceLevel": 5},
    ]
    response = api.put(COLLECTION, json=body)
    assert response.status_code == 200
    assert response.content == array(
        record(3, 200, UPDATED), record(1, 200, UPDATED), record(2, 200, UPDATED)
    )
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert stored(api, 1) == b"[" + group_bytes(1, "one") + b"]"
    assert stored(api, 2) == b"[" + group_bytes(2, "g2", price_level=5) + b"]"
    assert stored(api, 3) == b"[" + group_bytes(3, "three") + b"]"


def test_a_single_item_answers_exactly_one_record(api: httpx.Client) -> None:
    _make(api, 1)
    response = api.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "x"}])
    assert response.content == array(record(1, 200, UPDATED))


def test_items_are_partial_updates(api: httpx.Client) -> None:
    create_group(api, Name="a", Description="keep", MinimumOrder="9.99", NonTaxable=True)
    assert api.put(COLLECTION, json=[{"CustomerGroupID": 1, "AutoApprove": True}]).is_success
    assert (
        stored(api, 1)
        == b"["
        + group_bytes(1, "a", description="keep", minimum_order="9.99", non_taxable=True, auto_approve=True)
        + b"]"
    )


def test_items_are_read_like_single_bodies(api: httpx.Client) -> None:
    _make(api, 2)
    body = [
        {"customergroupid": "1", "NAME": "by string id", "pricelevel": "2", "Unknown": 1},
        {"CUSTOMERGROUPID": 2.0, "nontaxable": "true", "Description": None},
    ]
    response = api.put(COLLECTION, json=body)
    assert response.content == array(record(1, 200, UPDATED), record(2, 200, UPDATED))
    assert stored(api, 1) == b"[" + group_bytes(1, "by string id", price_level=2) + b"]"
    assert stored(api, 2) == b"[" + group_bytes(2, "g2", non_taxable=True) + b"]"


def test_the_same_id_twice_applies_both_in_order(api: httpx.Client) -> None:
    _make(api, 1)
    body = [{"CustomerGroupID": 1, "Name": "first"}, {"CustomerGroupID": 1, "Name": "second"}]
    response = api.put(COLLECTION, json=body)
    assert response.content == array(record(1, 200, UPDATED), record(1, 200, UPDATED))
    assert stored_one(api, 1)["Name"] == "second"


def test_the_same_id_twice_with_other_properties_keeps_each_last_value(api: httpx.Client) -> None:
    """PostgreSQL sends a bulk update's changes together, one statement per set of properties:
    still as if made one after another."""
    _make(api, 2)
    body = [
        {"CustomerGroupID": 1, "Name": "first", "PriceLevel": 2},
        {"CustomerGroupID": 2, "Description": "two"},
        {"CustomerGroupID": 1, "PriceLevel": 5},
        {"CustomerGroupID": 1, "Name": "third", "Description": "one"},
    ]
    response = api.put(COLLECTION, json=body)
    assert response.content == array(*(record(item["CustomerGroupID"], 200, UPDATED) for item in body))
    one, two = stored_one(api, 1), stored_one(api, 2)
    assert (one["Name"], one["PriceLevel"], one["Description"]) == ("third", 5, "one")
    assert (two["Name"], two["Description"]) == ("g2", "two")


def test_some_unknown_is_206_and_the_rest_is_written(api: httpx.Client) -> None:
    _make(api, 2)
    body = [
        {"CustomerGroupID": 1, "Name": "new"},
        {"CustomerGroupID": 99, "Name": "ghost"},
        {"CustomerGroupID": 2, "Name": "also"},
    ]
    response = api.put(COLLECTION, json=body)
    assert response.status_code == 206
    assert response.content == array(
        record(1, 200, UPDATED), record(99, 404, GROUP_NOT_FOUND), record(2, 200, UPDATED)
    )
    assert [stored_one(api, n)["Name"] for n in (1, 2)] == ["new", "also"]
    assert api.get(COLLECTION, params={"countonly": "1"}).content == b'{"TotalCount":2}'


def test_some_invalid_is_206_and_the_invalid_item_is_not_written(api: httpx.Client) -> None:
    _make(api, 2)
    body = [
        {"CustomerGroupID": 2, "Name": "bad", "PriceLevel": 2147483648},
        {"CustomerGroupID": 1, "Name": "good"},
    ]
    response = api.put(COLLECTION, json=body)
    assert response.status_code == 206
    assert response.content == array(record(2, 400, LEVEL_RULE), record(1, 200, UPDATED))
    assert stored(api, 2) == b"[" + group_bytes(2, "g2") + b"]"  # not even the valid Name
    assert stored_one(api, 1)["Name"] == "good"


def test_all_unknown_is_404_and_nothing_is_written(api: httpx.Client, state: State) -> None:
    _make(api, 1)
    before = state()
    response = api.put(COLLECTION, json=[{"CustomerGroupID": 5}, {"CustomerGroupID": 6}])
    assert response.status_code == 404
    assert response.content == array(record(5, 404, GROUP_NOT_FOUND), record(6, 404, GROUP_NOT_FOUND))
    assert state() == before


def test_unknown_on_an_empty_store_is_404(api: httpx.Client, state: State) -> None:
    before = state()
    response = api.put(COLLECTION, json=[{"CustomerGroupID": 1, "Name": "x"}])
    assert response.status_code == 404
    assert response.content == array(record(1, 404, GROUP_NOT_FOUND))
    assert state() == before


def test_unknown_and_invalid_without_any_update_is_400(api: httpx.Client, state: State) -> None:
    _make(api, 1)
    before = state()
    body = [{"CustomerGroupID": 9}, {"CustomerGroupID": 1, "Name": ""}]
    response = api.put(COLLECTION, json=body)
    assert response.status_code == 400
    assert response.content == array(
        record(9, 404, GROUP_NOT_FOUND), record(1, 400, "Name must not be empty")
    )
    assert state() == before


# (item, Value echoed, message)
BAD_ITEMS = [
    pytest.param({"Name": "no id"}, "", "CustomerGroupID is required", id="missing"),
    pytest.param({"CustomerGroupID": None}, "", "CustomerGroupID is required", id="null"),
    pytest.param({"CustomerGroupID": 0}, "0", BAD_ITEM_ID, id="zero"),
    pytest.param({"CustomerGroupID": -16732397}, "-16732397", BAD_ITEM_ID, id="seed-negative"),
    pytest.param({"CustomerGroupID": "abc"}, "abc", BAD_ITEM_ID, id="text"),
    pytest.param({"CustomerGroupID": 1.5}, "1.5", BAD_ITEM_ID, id="fraction"),
    pytest.param({"CustomerGroupID": 2147483648}, "2147483648", BAD_ITEM_ID, id="too-big"),
    pytest.param({"CustomerGroupID": True}, "true", BAD_ITEM_ID, id="boolean"),
    pytest.param({"CustomerGroupID": [1]}, "", BAD_ITEM_ID, id="array"),
    pytest.param({"CustomerGroupID": {"id": 1}}, "", BAD_ITEM_ID, id="object"),
    pytest.param(5, "", NOT_OBJECT_ITEM, id="number-item"),
    pytest.param("x", "", NOT_OBJECT_ITEM, id="string-item"),
    pytest.param(None, "", NOT_OBJECT_ITEM, id="null-item"),
    pytest.param([{"CustomerGroupID": 1}], "", NOT_OBJECT_ITEM, id="nested-array"),
    pytest.param(
        {"CustomerGroupID": 1, "Name": "", "PriceLevel": -2147483649},
        "1",
        f"Name must not be empty; {LEVEL_RULE}",
        id="bad-values",
    ),
]


@pytest.mark.parametrize(("item", "value", "message"), BAD_ITEMS)
def test_an_invalid_item_gets_a_400_record_naming_the_problem(
    api: httpx.Client, state: State, item: object, value: str, message: str
) -> None:
    _make(api, 2)
    before = state()
    response = api.put(COLLECTION, json=[item])
    assert response.status_code == 400
    assert response.content == array(record(value, 400, message))
    assert state() == before
    # the same item next to a valid one: 206, the valid one written, the records in order
    response = api.put(COLLECTION, json=[{"CustomerGroupID": 2, "Name": "ok"}, item])
    assert response.status_code == 206
    assert response.content == array(record(2, 200, UPDATED), record(value, 400, message))
    assert stored(api, 1) == b"[" + group_bytes(1, "g1") + b"]"


def test_a_mix_of_every_outcome_is_206(api: httpx.Client) -> None:
    _make(api, 2)
    body = [
        {"CustomerGroupID": 42},
        {"CustomerGroupID": 2, "Description": "x"},
        {"Name": "no id"},
        {"CustomerGroupID": 1, "PriceLevel": "high"},
    ]
    response = api.put(COLLECTION, json=body)
    assert response.status_code == 206
    assert response.content == array(
        record(42, 404, GROUP_NOT_FOUND),
        record(2, 200, UPDATED),
        record("", 400, "CustomerGroupID is required"),
        record(1, 400, LEVEL_RULE),
    )
    assert stored(api, 1) == b"[" + group_bytes(1, "g1") + b"]"
    assert stored(api, 2) == b"[" + group_bytes(2, "g2", description="x") + b"]"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'{"CustomerGroupID":1,"Name":"x"}',
            "The request body must be a JSON array of CustomerGroup objects",
        ),
        (b'"x"', "The request body must be a JSON array of CustomerGroup objects"),
        (b"null", "The request body must be a JSON array of CustomerGroup objects"),
        (b"[]", "The request body must contain at least one CustomerGroup"),
        (b"", "The request body is empty; send a JSON document"),
        (
            b'[{"CustomerGroupID":1,,}]',
            "The request body is not valid JSON: Expecting property name (line 1, column 23)",
        ),
    ],
)
def test_a_body_that_is_not_a_non_empty_array_is_400(
    api: httpx.Client, state: State, content: bytes, message: str
) -> None:
    _make(api, 1)
    before = state()
    assert_error(api.put(COLLECTION, content=content, headers=JSON), 400, message)
    assert state() == before


def test_1000_items_are_accepted(api: httpx.Client) -> None:
    _make(api, 2)
    items = [{"CustomerGroupID": 1 + n % 2, "Name": f"n{n}"} for n in range(1000)]
    response = api.put(COLLECTION, content=json.dumps(items).encode(), headers=JSON)
    assert response.status_code == 200
    records = response.json()
    assert len(records) == 1000
    assert [r["Value"] for r in records] == [str(1 + n % 2) for n in range(1000)]
    assert {r["Status"] for r in records} == {"200"}
    assert [stored_one(api, n)["Name"] for n in (1, 2)] == ["n998", "n999"]


def test_more_than_1000_items_are_refused_whole(api: httpx.Client, state: State) -> None:
    _make(api, 1)
    before = state()
    items = [{"CustomerGroupID": 1, "Name": f"n{n}"} for n in range(1001)]
    response = api.put(COLLECTION, content=json.dumps(items).encode(), headers=JSON)
    assert_error(response, 400, "A bulk update takes at most 1000 items (got 1001)")
    assert state() == before


def test_valid_items_are_written_in_one_transaction(
    server: LiveServer, api: httpx.Client, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure half-way through the writes leaves none of them visible."""
    _make(api, 3)
    before = state()
    tx_type = SqliteTx if server.db.dialect_name == "sqlite" else PostgresTx  # the database under test
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
    body = [{"CustomerGroupID": n, "Name": f"changed {n}"} for n in (1, 2, 3)]
    response = api.put(COLLECTION, json=body)
    assert_error(response, 500, "An internal error occurred; it has been logged")
    assert calls[:3] == [1, 2, 3]  # two updates ran before the crash
    monkeypatch.undo()
    assert state() == before


def test_an_id_with_a_lone_surrogate_is_echoed_writable(api: httpx.Client) -> None:
    create_group(api)
    response = api.put(COLLECTION, content=b'[{"CustomerGroupID":"\\ud800x","Name":"A"}]')
    assert response.status_code == 400
    assert (
        response.content
        == (
            '[{"Key":"CustomerGroupID","Value":"\ufffdx","Status":"400",'
            '"Message":"CustomerGroupID must be an integer from 1 to 2147483647"}]'
        ).encode()
    )
