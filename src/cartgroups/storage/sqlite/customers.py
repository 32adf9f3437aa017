"""SQLite's customer reads: storage/customers.CustomerReads, with a page written as the API's
JSON by SQLite itself (json_object in C, one value per page instead of a Python object per
column of every row), as the groups' list page is (storage/customer_groups.list_groups_json).

The bytes are api/wire.customers_body's, character for character (tests/storage/
test_customers.py holds the two writers to each other): null for text never set, true/false,
``"Password":""``, TotalStoreCredit's digits with at least one fractional digit. SQLite writes
U+0085, U+2028 and U+2029 raw, as orjson does; json_net.escaped escapes them as the API does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from cartgroups.customer_model import CUSTOMER_FIELDS, PASSWORD, TOTAL_STORE_CREDIT
from cartgroups.json_net import escaped
from cartgroups.storage.customers import CustomerQuery, CustomerReads, list_statement
from cartgroups.storage.fastpath import Prepared


def _json_value(kind: str, column: str) -> str:
    if kind == "boolean":
        return f"iif({column}, json('true'), json('false'))"
    if kind == "decimal":  # kept as fixed-point text; written as a number with a fraction
        return f"json(iif(instr({column}, '.'), {column}, {column} || '.0'))"
    return column


def _object_sql() -> str:
    parts = []
    for spec in CUSTOMER_FIELDS:
        value = "''" if spec is PASSWORD else _json_value(spec.kind, spec.column)
        parts.append(f"'{spec.wire}', {value}")
    return "json_object(" + ", ".join(parts) + ")"


_OBJECT = _object_sql()
_PAGES: dict[frozenset[str], Prepared] = {}
_ONE = Prepared(
    sa.text(
        f"SELECT CAST(json_array({_OBJECT}) AS BLOB) FROM customers "
        "WHERE store_id = :store_id AND customer_id = :customer_id"
    )
)
_NAMED = sqlite_dialect(paramstyle="named")  # ":name" parameters, which sa.text() reads
assert TOTAL_STORE_CREDIT.kind == "decimal"


def _page_statement(names: frozenset[str]) -> Prepared:
    statement = _PAGES.get(names)
    if statement is None:
        rows = list_statement(names).statement.compile(dialect=_NAMED)
        statement = _PAGES[names] = Prepared(
            sa.text(f"SELECT CAST(json_group_array({_OBJECT}) AS BLOB), count(*) FROM ({rows})")
        )
    return statement


class SqliteCustomerReads(CustomerReads):
    __slots__ = ()

    async def get_json(self, *, store_id: int, customer_id: int) -> bytes | None:
        row = await self.run.one(_ONE, {"store_id": store_id, "customer_id": customer_id})
        return None if row is None else escaped(bytes(row[0]))

    async def page_json(
        self, *, store_id: int, query: CustomerQuery, limit: int, skip: int
    ) -> tuple[bytes, int]:
        params = query.params()
        row = await self.run.one(
            _page_statement(frozenset(params)),
            {**params, "store_id": store_id, "limit": limit, "offset": skip},
        )
        assert row is not None
        body, count = row
        return escaped(bytes(body)), int(count)
