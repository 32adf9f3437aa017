"""Customers in the SDK (3dcart's Customers resource, shared/spec/customers.md): the ``Customer``
model, the operations, and ``client.customers`` / ``client.group_members``.

    with Client(url, secure_url, private_key, token) as client:
        customer_id = client.customers.create(email="jane@example.com", billing_first_name="Jane")
        jane = client.customers.get(customer_id)
        client.customers.update(customer_id, customer_group_id=2)
        for customer in client.customers.iter_all(country="US"):
            ...
        members = client.group_members(2, limit=50)

Attribute names are the snake_case columns of ``cartgroups.customer_model`` (``billing_first_name``,
``customer_group_id``, ...). Password is write-only: every customer read back has ``password ""``;
an update that leaves it out (or sends "") keeps the stored one. TotalStoreCredit is read-only:
it is a ``Decimal`` when read and is never sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from cartgroups.client import _core
from cartgroups.client.models import ItemResult, to_decimal, wire_values
from cartgroups.customer_model import CUSTOMER_FIELDS, CUSTOMER_ID, TOTAL_STORE_CREDIT
from cartgroups.model import FieldSpec

COLLECTION = "/Customers"
ID_WIRE = CUSTOMER_ID.wire  # "CustomerID"
# The list filters of GET /Customers and GET /CustomerGroups/{id}/Customers (spec §3), by their
# wire names; the keyword arguments of list(), count(), iter_all() and group_members().
TEXT_FILTERS = ("email", "firstname", "lastname", "country", "state", "city", "phone")
DATE_FILTERS = ("lastupdatestart", "lastupdateend")
FILTERS = (*TEXT_FILTERS, *DATE_FILTERS)
DATE_FORMAT = "%m/%d/%Y %H:%M:%S"
_BY_ATTRIBUTE: dict[str, FieldSpec] = {f.column: f for f in CUSTOMER_FIELDS}
_BY_KEY: dict[str, FieldSpec] = {f.key: f for f in CUSTOMER_FIELDS}
_READ_ONLY = frozenset({CUSTOMER_ID.column, TOTAL_STORE_CREDIT.column})


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    """One customer, its 36 fields in wire order. ``customer_id`` is 0 until the server assigns
    one; text never set is None (the server's null); ``password`` is "" in every customer read
    back (write-only); ``total_store_credit`` is read-only (ignored when sent)."""

    customer_id: int = 0
    email: str
    password: str = ""
    billing_company: str | None = None
    billing_first_name: str | None = None
    billing_last_name: str | None = None
    billing_address1: str | None = None
    billing_address2: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_zip_code: str | None = None
    billing_country: str | None = None
    billing_phone_number: str | None = None
    billing_tax_id: str | None = None
    shipping_company: str | None = None
    shipping_first_name: str | None = None
    shipping_last_name: str | None = None
    shipping_address1: str | None = None
    shipping_address2: str | None = None
    shipping_city: str | None = None
    shipping_state: str | None = None
    shipping_zip_code: str | None = None
    shipping_country: str | None = None
    shipping_phone_number: str | None = None
    shipping_address_type: int = 0
    customer_group_id: int = 0
    enabled: bool = False
    mail_list: bool = False
    non_taxable: bool = False
    disable_billing_same_as_shipping: bool = False
    comments: str | None = None
    additional_field1: str | None = None
    additional_field2: str | None = None
    additional_field3: str | None = None
    total_store_credit: Decimal = Decimal("0.0")
    reset_password: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_store_credit", to_decimal(self.total_store_credit))

    @classmethod
    def from_wire(cls, obj: object) -> Customer:
        """A customer from one decoded JSON object (names in any case; unknown ones ignored,
        absent or null ones take their defaults)."""
        values = wire_values(obj, _BY_KEY, "Customer")
        values.setdefault("email", "")
        return cls(**values)

    def to_wire(self, *, include_id: bool = True) -> dict[str, Any]:
        """The JSON object a write sends, in wire order: every field but the read-only
        TotalStoreCredit (and CustomerID unless ``include_id``)."""
        obj = {f.wire: getattr(self, f.column) for f in CUSTOMER_FIELDS if f.column not in _READ_ONLY}
        return {ID_WIRE: self.customer_id, **obj} if include_id else obj


assert [f.name for f in fields(Customer)] == [f.column for f in CUSTOMER_FIELDS]


def customer_fields(values: Mapping[str, object], *, allow_id: bool) -> dict[str, Any]:
    """Wire-named values from snake_case keyword fields. An unknown name, or a read-only one
    (TotalStoreCredit; CustomerID unless ``allow_id``), is a TypeError."""
    out: dict[str, Any] = {}
    for attribute, value in values.items():
        spec = _BY_ATTRIBUTE.get(attribute)
        if spec is None or spec is TOTAL_STORE_CREDIT or (spec is CUSTOMER_ID and not allow_id):
            known = ", ".join(
                f.column
                for f in CUSTOMER_FIELDS
                if f.column not in _READ_ONLY or (allow_id and f is CUSTOMER_ID)
            )
            raise TypeError(f"unknown or read-only Customer field {attribute!r} (writable: {known})")
        out[spec.wire] = value
    return out


def filter_params(filters: Mapping[str, object]) -> dict[str, str]:
    """The query parameters of the §3 filters given as keyword arguments. A date filter takes a
    ``datetime`` (naive: read by the server in its store time zone) or the server's own text
    (``mm/dd/yyyy`` or ``mm/dd/yyyy hh:mm:ss``); None leaves a filter out."""
    params: dict[str, str] = {}
    for name, value in filters.items():
        if name not in FILTERS:
            raise TypeError(f"unknown Customer filter {name!r} (known: {', '.join(FILTERS)})")
        if value is None:
            continue
        if name in DATE_FILTERS and isinstance(value, datetime):
            params[name] = value.strftime(DATE_FORMAT)
        elif isinstance(value, str):
            params[name] = value
        else:
            raise TypeError(f"the filter {name} takes a str{' or datetime' if name in DATE_FILTERS else ''}")
    return params


# --- the operations ----------------------------------------------------------------------------


_id = _core.checked_id


def _customers(body: Any, response: httpx.Response) -> list[Customer]:
    return _core.from_wire_array(body, response, Customer.from_wire, "Customer")


def create_op(customer: Customer | None, values: Mapping[str, object]) -> _core.Operation[int]:
    body = customer.to_wire(include_id=False) if customer is not None else {}
    body.update(customer_fields(values, allow_id=False))
    return _core.Operation("POST", COLLECTION, _core._result_value, content=_core.dumps(body))


def get_op(customer_id: int) -> _core.Operation[Customer]:
    parse = _core.one_parser(_customers, f"Customer {customer_id} not found", customer_id)
    return _core.Operation("GET", f"{COLLECTION}/{_id(customer_id, 'customer')}", parse)


def _list(
    path: str, limit: int, offset: int, filters: Mapping[str, object]
) -> _core.Operation[list[Customer]]:
    params = {"limit": str(limit), "offset": str(offset), **filter_params(filters)}
    return _core.Operation("GET", path, _core.page_parser(_customers), params=params)


def list_op(limit: int, offset: int, filters: Mapping[str, object]) -> _core.Operation[list[Customer]]:
    return _list(COLLECTION, limit, offset, filters)


def members_op(
    group_id: int, limit: int, offset: int, filters: Mapping[str, object]
) -> _core.Operation[list[Customer]]:
    return _list(f"{_core.COLLECTION}/{_id(group_id, 'group')}{COLLECTION}", limit, offset, filters)


def count_op(filters: Mapping[str, object]) -> _core.Operation[int]:
    return _core.Operation(
        "GET", COLLECTION, _core._count, params={"countonly": "1", **filter_params(filters)}
    )


def count_members_op(group_id: int, filters: Mapping[str, object]) -> _core.Operation[int]:
    """countonly of a group's members: 0 for an existing group without any; NotFound for a
    missing group (the server's 200 {"TotalCount":0} and 404, told apart)."""

    def parse(response: httpx.Response) -> int:
        if response.status_code == 404:
            raise _core.api_error(response)
        return _core._count(response)

    path = f"{_core.COLLECTION}/{_id(group_id, 'group')}{COLLECTION}"
    return _core.Operation("GET", path, parse, params={"countonly": "1", **filter_params(filters)})


def update_op(customer_id: int, values: Mapping[str, object]) -> _core.Operation[None]:
    if not values:
        raise ValueError("update() needs at least one field")
    content = _core.dumps(customer_fields(values, allow_id=False))
    return _core.Operation(
        "PUT", f"{COLLECTION}/{_id(customer_id, 'customer')}", _core._done, content=content
    )


def bulk_item(item: Customer | Mapping[str, object]) -> dict[str, Any]:
    if isinstance(item, Customer):
        return item.to_wire()
    return customer_fields(item, allow_id=True)


def bulk_update_op(items: Iterable[Customer | Mapping[str, object]]) -> _core.Operation[list[ItemResult]]:
    body = [bulk_item(item) for item in items]
    return _core.Operation("PUT", COLLECTION, _core.per_item_results(len(body)), content=_core.dumps(body))


def delete_op(customer_id: int) -> _core.Operation[None]:
    return _core.Operation("DELETE", f"{COLLECTION}/{_id(customer_id, 'customer')}", _core._done)


# --- client.customers --------------------------------------------------------------------------

CustomerList = list[Customer]
ResultList = list[ItemResult]
Run = Callable[[_core.Operation[Any]], Any]
ARun = Callable[[_core.Operation[Any]], Awaitable[Any]]


class Customers:
    """``client.customers``: the Customers routes of a ``Client``, with its retries and errors."""

    __slots__ = ("_run",)

    def __init__(self, run: Run) -> None:
        self._run = run

    def create(self, customer: Customer | None = None, /, **fields: Any) -> int:
        """Create a customer from a ``Customer`` and/or keyword fields (``email`` required);
        returns the new id. ``password=`` is stored hashed and never read back."""
        result: int = self._run(create_op(customer, fields))
        return result

    def get(self, customer_id: int) -> Customer:
        """One customer; ``NotFound`` when there is none with that id."""
        result: Customer = self._run(get_op(customer_id))
        return result

    def list(self, limit: int = 10, offset: int = 1, **filters: str | datetime | None) -> CustomerList:
        """One page in id order (``offset`` is the 1-based record index; the server takes a
        ``limit`` up to 500, and 0 as 10). Filters (AND): ``email``, ``firstname``,
        ``lastname``, ``country``, ``state``, ``city``, ``phone`` (exact, any case),
        ``lastupdatestart``/``lastupdateend`` (inclusive). Nothing matching is []."""
        result: CustomerList = self._run(list_op(limit, offset, filters))
        return result

    def iter_all(self, page_size: int = 100, **filters: str | datetime | None) -> Iterator[Customer]:
        """Every matching customer, page by page."""
        return _core.iter_pages(lambda offset: self.list(page_size, offset, **filters), page_size)

    def count(self, **filters: str | datetime | None) -> int:
        """How many customers match the filters (``countonly=1``)."""
        result: int = self._run(count_op(filters))
        return result

    def update(self, customer_id: int, /, **fields: Any) -> None:
        """Change only the given fields of one customer."""
        self._run(update_op(customer_id, fields))

    def bulk_update(self, items: Iterable[Customer | Mapping[str, Any]]) -> ResultList:
        """Update many customers (each names its ``customer_id``); one result per item, in
        order. Does not raise when only some (206) or all items failed with per-item records."""
        result: ResultList = self._run(bulk_update_op(items))
        return result

    def delete(self, customer_id: int) -> None:
        self._run(delete_op(customer_id))


class AsyncCustomers:
    """``AsyncClient.customers``: the methods of ``Customers``, awaited."""

    __slots__ = ("_run",)

    def __init__(self, run: ARun) -> None:
        self._run = run

    async def create(self, customer: Customer | None = None, /, **fields: Any) -> int:
        result: int = await self._run(create_op(customer, fields))
        return result

    async def get(self, customer_id: int) -> Customer:
        result: Customer = await self._run(get_op(customer_id))
        return result

    async def list(self, limit: int = 10, offset: int = 1, **filters: str | datetime | None) -> CustomerList:
        result: CustomerList = await self._run(list_op(limit, offset, filters))
        return result

    async def iter_all(
        self, page_size: int = 100, **filters: str | datetime | None
    ) -> AsyncIterator[Customer]:
        async for customer in _core.aiter_pages(
            lambda offset: self.list(page_size, offset, **filters), page_size
        ):
            yield customer

    async def count(self, **filters: str | datetime | None) -> int:
        result: int = await self._run(count_op(filters))
        return result

    async def update(self, customer_id: int, /, **fields: Any) -> None:
        await self._run(update_op(customer_id, fields))

    async def bulk_update(self, items: Iterable[Customer | Mapping[str, Any]]) -> ResultList:
        result: ResultList = await self._run(bulk_update_op(items))
        return result

    async def delete(self, customer_id: int) -> None:
        await self._run(delete_op(customer_id))
