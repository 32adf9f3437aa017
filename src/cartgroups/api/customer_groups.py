"""Handlers of the CustomerGroups routes: parse, call the service, shape the reply (the Call,
Reply and Write they take and give: api/calls.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from cartgroups.api import odata, wire
from cartgroups.api.calls import Call, Reply, Write
from cartgroups.api.media import JSON, Media
from cartgroups.model import FIELDS, ID, FieldSpec
from cartgroups.service.customer_groups import (
    CustomerGroups,
    ItemResult,
    Outcome,
    Precondition,
    parse_page,
)

T = TypeVar("T")
NOT_MODIFIED = 304


def _done(media: Media, status: int, group_id: int, message: str) -> Reply:
    return status, media.records([wire.record(ID.wire, str(group_id), status, message)])


async def create(call: Call) -> Write[int]:
    write = call.groups.plan_create(principal=call.principal, body=call.body)
    return Write(write, lambda group_id: _done(call.media, 201, group_id, "Created successfully"))


# The resource the read cache keeps this module's answers under: another resource's handlers
# name theirs, so their equal keys (customer 5, group 5) are never one entry.
RESOURCE = "CustomerGroups"


async def _remembered(call: Call, key: tuple[object, ...], make: Callable[[], Awaitable[T]]) -> T:
    """``await make()``, or its answer kept since nothing was committed (storage/read_cache.py),
    under RESOURCE and the key. Keys start with the store: nothing read for one store is ever
    answered to another."""
    if call.reads is None:
        return await make()
    return await call.reads.get(RESOURCE, key, make, version=call.changes)


async def list_groups(call: Call) -> Reply:
    q = call.query
    page = parse_page(q.get("limit"), q.get("offset"), q.get("countonly"))
    store_id, media = call.store_id, call.media
    if page.count_only:

        async def count() -> bytes:
            return media.count(await call.groups.count(store_id=store_id))

        return 200, await _remembered(call, (store_id, "count", media.name), count)
    asked = odata.parse(q)  # countonly ignores $select and $orderby, as it does limit and offset
    if asked is None and media is JSON:  # the fast path: bytes written by the store, kept as they are
        key = (store_id, "page", page)
        return 200, await _remembered(call, key, lambda: call.groups.page_json(store_id=store_id, page=page))
    shape = asked or odata.WHOLE

    async def shaped() -> bytes:
        return media.groups(shape.sort(await call.groups.page(store_id=store_id, page=page)), shape.fields)

    return 200, await _remembered(call, (store_id, "page", page, media.name, shape), shaped)


def entity_tag(body: bytes) -> str:
    """The strong ETag of a GET-by-id body: a hash of its exact bytes, so it changes exactly when
    the representation does (v1 and v2 send the same bytes, hence the same tag)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_match(header: str) -> Precondition:
    """If-Match as a test of the stored group: ``*`` matches any group; otherwise one of the listed
    tags must be its ETag, compared strongly (a weak ``W/"..."`` tag never matches)."""
    tags = _tags(header)
    if "*" in tags:
        return lambda group: True
    wanted = {tag for tag in tags if not tag.startswith("W/")}
    return lambda group: entity_tag(wire.groups_body([group])) in wanted


def _none_match(header: str, etag: str) -> bool:
    """If-None-Match, compared weakly: True when the client's copy is current."""
    tags = _tags(header)
    return "*" in tags or etag in {tag.removeprefix("W/") for tag in tags}


def _precondition(call: Call) -> Precondition | None:
    header = call.headers.get("if-match")
    return None if header is None else if_match(header)


async def get(call: Call) -> Reply:
    store_id, group_id, media = call.store_id, call.item_id, call.media
    asked = odata.parse(call.query) if call.query else None
    if asked is None and media is JSON:
        kept = await _remembered(
            call, (store_id, group_id), lambda: _group_body(call.groups, store_id, group_id)
        )
    else:  # $orderby sorts a one-element list: only $select tells bodies apart
        shape = asked or odata.WHOLE
        kept = await _remembered(
            call,
            (store_id, group_id, media.name, shape.select),
            lambda: _group_body(call.groups, store_id, group_id, media, shape.fields),
        )
    tag, body = kept[:_TAG_BYTES], kept[_TAG_BYTES:]
    call.reply_headers += [(b"etag", tag), (b"access-control-expose-headers", b"ETag")]
    known = call.headers.get("if-none-match")
    if known is not None and _none_match(known, tag.decode()):
        return NOT_MODIFIED, b""
    return 200, body


async def _group_body(
    groups: CustomerGroups,
    store_id: int,
    group_id: int,
    media: Media = JSON,
    fields: Sequence[FieldSpec] = FIELDS,
) -> bytes:
    """The ETag's bytes followed by the body: one object to keep (see storage/read_cache.py).
    The tag is that of the whole JSON body in every media type and with every ``$select``: it
    names the group's state, which If-Match compares (``if_match``), whichever representation
    the client read it from."""
    group = await groups.get(store_id=store_id, group_id=group_id)
    json = wire.groups_body([group])
    body = json if media is JSON and fields is FIELDS else media.groups([group], fields)
    return entity_tag(json).encode() + body


_TAG_BYTES = len(entity_tag(b""))


async def update(call: Call) -> Write[None]:
    group_id = call.item_id
    write = await call.groups.plan_update(
        principal=call.principal, group_id=group_id, body=call.body, precondition=_precondition(call)
    )
    return Write(write, lambda _: _done(call.media, 200, group_id, "updated successfully"))


_ITEM_STATUS = {Outcome.UPDATED: 200, Outcome.NOT_FOUND: 404, Outcome.INVALID: 400}


def bulk_status(results: list[ItemResult]) -> int:
    """All updated: 200; some: 206; none, all unknown: 404; otherwise 400."""
    outcomes = {r.outcome for r in results}
    if outcomes == {Outcome.UPDATED}:
        return 200
    if Outcome.UPDATED in outcomes:
        return 206
    return 404 if outcomes == {Outcome.NOT_FOUND} else 400


async def bulk_update(call: Call) -> Write[list[ItemResult]]:
    media = call.media
    write = call.groups.plan_bulk_update(principal=call.principal, body=call.body)
    return Write(write, lambda results: _bulk_reply(media, results))


def _bulk_reply(media: Media, results: list[ItemResult]) -> Reply:
    return bulk_status(results), media.records(item_records(ID, results))


def item_records(id_field: FieldSpec, results: list[ItemResult]) -> list[dict[str, str]]:
    """A bulk update's record per item, keyed by the resource's id property."""
    return [wire.record(id_field.wire, r.value, _ITEM_STATUS[r.outcome], r.message) for r in results]


async def delete(call: Call) -> Write[None]:
    group_id = call.item_id
    write = call.groups.plan_delete(
        principal=call.principal, group_id=group_id, precondition=_precondition(call)
    )
    return Write(write, lambda _: _done(call.media, 200, group_id, "Deleted successfully"))
