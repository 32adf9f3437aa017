"""Handlers of the Customers routes and of a group's members (GET /CustomerGroups/{id}/Customers):
parse, call the service (service/customers.py), shape the reply (the Call, Reply and Write they
take and give: api/calls.py).

Reads are kept by the read cache (storage/read_cache.py) under RESOURCE, as the groups' are
under theirs: equal keys of the two resources are never one entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from cartgroups.api import odata, wire
from cartgroups.api.calls import Call, Reply, Write
from cartgroups.api.customer_groups import bulk_status, item_records
from cartgroups.api.media import JSON, Media
from cartgroups.customer_model import CUSTOMER_ID
from cartgroups.errors import Invalid
from cartgroups.service import validation
from cartgroups.service.customer_groups import ItemResult

T = TypeVar("T")
RESOURCE = "Customers"
_WHOLE = odata.CUSTOMERS.whole()


def _done(media: Media, status: int, customer_id: int, message: str) -> Reply:
    return status, media.records([wire.record(CUSTOMER_ID.wire, str(customer_id), status, message)])


async def _remembered(call: Call, key: tuple[object, ...], make: Callable[[], Awaitable[T]]) -> T:
    if call.reads is None:
        return await make()
    return await call.reads.get(RESOURCE, key, make, version=call.changes)


def _shape(call: Call) -> odata.Shape:
    """$select and $orderby over the Customer's fields (api/odata.py): never an error (D9)."""
    return (odata.parse(call.query, odata.CUSTOMERS) if call.query else None) or _WHOLE


async def create(call: Call) -> Write[int]:
    write = await call.customers.plan_create(principal=call.principal, body=call.body)
    return Write(write, lambda customer_id: _done(call.media, 201, customer_id, "Created successfully"))


async def list_customers(call: Call) -> Reply:
    customers, store_id, media = call.customers, call.store_id, call.media
    page = customers.page_of(call.query)
    if page.count_only:

        async def count() -> bytes:
            return media.count(await customers.count(store_id=store_id, page=page))

        return 200, await _remembered(call, (store_id, "count", page, media.name), count)

    shape = _shape(call)  # countonly ignores $select and $orderby, as for groups
    if shape is _WHOLE and media is JSON:  # the fast path: bytes written by the store, kept as they are
        return 200, await _remembered(
            call, (store_id, "page", page), lambda: customers.page_json(store_id=store_id, page=page)
        )

    async def listed() -> bytes:
        return media.customers(shape.sort(await customers.page(store_id=store_id, page=page)), shape.fields)

    return 200, await _remembered(call, (store_id, "page", page, media.name, shape), listed)


def _group_id(call: Call) -> int:
    """The group of a members path: a CustomerGroupID, or 0, which is no group (§5: 404, as a
    missing group, where /CustomerGroups/0 is a 400)."""
    try:
        return call.item_id
    except Invalid:
        if validation.ascii_whole(call.path_id or "", 10) == 0:
            return 0
        raise


async def members(call: Call) -> Reply:
    """GET /CustomerGroups/{id}/Customers: the group's customers, with the list's filters."""
    customers, store_id, media = call.customers, call.store_id, call.media
    group_id = _group_id(call)
    page = customers.page_of(call.query)
    if page.count_only:

        async def count() -> bytes:
            return media.count(await customers.count_members(store_id=store_id, group_id=group_id, page=page))

        return 200, await _remembered(call, (store_id, "members-count", group_id, page, media.name), count)

    shape = _shape(call)
    if shape is _WHOLE and media is JSON:

        async def written() -> bytes:
            return await customers.members_json(store_id=store_id, group_id=group_id, page=page)

        return 200, await _remembered(call, (store_id, "members", group_id, page), written)

    async def listed() -> bytes:
        found = await customers.members(store_id=store_id, group_id=group_id, page=page)
        return media.customers(shape.sort(found), shape.fields)

    return 200, await _remembered(call, (store_id, "members", group_id, page, media.name, shape), listed)


async def get(call: Call) -> Reply:
    store_id, customer_id, media = call.store_id, call.customer_id, call.media
    shape = _shape(call)  # $orderby sorts a one-element list: only $select tells bodies apart
    if shape is _WHOLE and media is JSON:  # the fast path: bytes written by the store
        return 200, await _remembered(
            call,
            (store_id, customer_id),
            lambda: call.customers.get_json(store_id=store_id, customer_id=customer_id),
        )

    async def one() -> bytes:
        found = await call.customers.get(store_id=store_id, customer_id=customer_id)
        return media.customers([found], shape.fields)

    return 200, await _remembered(call, (store_id, customer_id, media.name, shape.select), one)


async def update(call: Call) -> Write[None]:
    customer_id = call.customer_id
    write = await call.customers.plan_update(
        principal=call.principal, customer_id=customer_id, body=call.body
    )
    return Write(write, lambda _: _done(call.media, 200, customer_id, "updated successfully"))


async def bulk_update(call: Call) -> Write[list[ItemResult]]:
    media = call.media
    write = await call.customers.plan_bulk_update(principal=call.principal, body=call.body)
    return Write(
        write, lambda results: (bulk_status(results), media.records(item_records(CUSTOMER_ID, results)))
    )


async def delete(call: Call) -> Write[None]:
    customer_id = call.customer_id
    write = call.customers.plan_delete(principal=call.principal, customer_id=customer_id)
    return Write(write, lambda _: _done(call.media, 200, customer_id, "Deleted successfully"))
