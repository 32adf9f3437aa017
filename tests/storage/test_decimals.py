"""MinimumOrder is money: the digits (and the scale) given are the digits stored and read back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cartgroups.storage import customer_groups as groups_sql
from cartgroups.storage.database import Database
from tests.storage.conftest import group_values, new_store

EXACT = [
    "0.1",
    "101.25",
    "34158822.957761675",
    "1.50",
    "79228162514264337593543950335",
    "0.0000000000000000000000000001",
    "0",
    "0.00",
]


@pytest.mark.parametrize("text", EXACT)
def test_decimal_comes_back_with_the_same_digits(db: Database, text: str) -> None:
    store = new_store(db, "shop.com")
    with db.write() as conn:
        group_id = groups_sql.insert_group(
            conn, store_id=store, values=group_values(minimum_order=Decimal(text))
        )
    with db.read() as conn:
        got = groups_sql.get_group(conn, store_id=store, group_id=group_id)
        listed = groups_sql.list_groups(conn, store_id=store, limit=10, skip=0)
    assert got is not None
    assert isinstance(got.minimum_order, Decimal)
    # Same digits and same scale (1.50 stays 1.50), never through a binary float.
    assert got.minimum_order.as_tuple() == Decimal(text).as_tuple()
    assert format(got.minimum_order, "f") == text
    assert [format(g.minimum_order, "f") for g in listed] == [text]


def test_decimal_survives_an_update_exactly(db: Database) -> None:
    store = new_store(db, "shop.com")
    with db.write() as conn:
        group_id = groups_sql.insert_group(conn, store_id=store, values=group_values())
        assert groups_sql.update_group(
            conn,
            store_id=store,
            group_id=group_id,
            values={"minimum_order": Decimal("34158822.957761675")},
        )
    with db.read() as conn:
        got = groups_sql.get_group(conn, store_id=store, group_id=group_id)
    assert got is not None and str(got.minimum_order) == "34158822.957761675"
