"""Handlers of the CustomerGroups routes: parse, call the service, shape the reply."""

from __future__ import annotations

from dataclasses import dataclass

from cartgroups.api import wire
from cartgroups.model import ID
from cartgroups.service import validation
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups, ItemResult, Outcome, parse_page

Reply = tuple[int, bytes]


@dataclass(slots=True)
class Call:
    """One authenticated request, as the handlers see it."""

    groups: CustomerGroups
    principal: Principal
    path_id: str | None
    query: dict[str, str]
    body: object = None

    @property
    def store_id(self) -> int:
        return self.principal.store_id

    @property
    def group_id(self) -> int:
        assert self.path_id is not None
        return validation.path_id(self.path_id)


def _done(status: int, group_id: int, message: str) -> Reply:
    return status, wire.records_body([wire.record(ID.wire, str(group_id), status, message)])


def create(call: Call) -> Reply:
    group_id = call.groups.create(principal=call.principal, body=call.body)
    return _done(201, group_id, "Created successfully")


def list_groups(call: Call) -> Reply:
    q = call.query
    page = parse_page(q.get("limit"), q.get("offset"), q.get("countonly"))
    if page.count_only:
        return 200, wire.json_body({"TotalCount": call.groups.count(store_id=call.store_id)})
    return 200, wire.groups_body(call.groups.page(store_id=call.store_id, page=page))


def get(call: Call) -> Reply:
    group = call.groups.get(store_id=call.store_id, group_id=call.group_id)
    return 200, wire.groups_body([group])


def update(call: Call) -> Reply:
    group_id = call.group_id
    call.groups.update(principal=call.principal, group_id=group_id, body=call.body)
    return _done(200, group_id, "updated successfully")


_ITEM_STATUS = {Outcome.UPDATED: 200, Outcome.NOT_FOUND: 404, Outcome.INVALID: 400}


def bulk_status(results: list[ItemResult]) -> int:
    """All updated: 200; some: 206; none, all unknown: 404; otherwise 400."""
    outcomes = {r.outcome for r in results}
    if outcomes == {Outcome.UPDATED}:
        return 200
    if Outcome.UPDATED in outcomes:
        return 206
    return 404 if outcomes == {Outcome.NOT_FOUND} else 400


def bulk_update(call: Call) -> Reply:
    results = call.groups.bulk_update(principal=call.principal, body=call.body)
    records = [wire.record(ID.wire, r.value, _ITEM_STATUS[r.outcome], r.message) for r in results]
    return bulk_status(results), wire.records_body(records)


def delete(call: Call) -> Reply:
    group_id = call.group_id
    call.groups.delete(principal=call.principal, group_id=group_id)
    return _done(200, group_id, "Deleted successfully")
