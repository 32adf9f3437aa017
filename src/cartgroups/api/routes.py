"""The route table: one entry per operation, used both to dispatch and to write the OpenAPI document.

3dcart paths are matched case-insensitively, under /3dCartWebAPI/v1 and /3dCartWebAPI/v2 alike,
with or without a trailing slash.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from cartgroups.api import customer_groups as h
from cartgroups.api import customers as c
from cartgroups.api.calls import Call, Reply, Write
from cartgroups.customer_model import CUSTOMER_ID
from cartgroups.model import ID, FieldSpec

# "members": /{Resource}/{id}/{Other}, a list of another resource's objects that belong to one
# item (GET /CustomerGroups/{id}/Customers).
Route = Literal["collection", "item", "members"]
# A read's handler answers; a write's returns the Write the store runs (api/calls.py).
Handler = Callable[[Call], Awaitable[Reply]] | Callable[[Call], Awaitable[Write[Any]]]
# What an operation does, whatever its resource: its method, route, operation id, and what the
# OpenAPI document says of it (api/openapi.py) follow from it.
Kind = Literal["create", "list", "bulk_update", "get", "update", "delete", "members"]
VERSIONS = ("v1", "v2")
PREFIX = "/3dCartWebAPI"


@dataclass(frozen=True, slots=True, eq=False)
class Resource:
    """One 3dcart resource: its URL segment, its object's name, and what people call it. Each
    is one object, compared and hashed by identity (it keys the operations looked up for every
    request: hashing its fields would cost that request thousands of instructions)."""

    path: str  # the URL's segment, e.g. "CustomerGroups" (matched in any letter case)
    entity: str  # the object's name, e.g. "CustomerGroup": schemas and operation ids use it
    one: str  # "customer group", for summaries
    many: str  # "customer groups"
    id_field: FieldSpec  # the object's id property, also the {id} of its item route


CUSTOMER_GROUPS = Resource("CustomerGroups", "CustomerGroup", "customer group", "customer groups", ID)
CUSTOMERS = Resource("Customers", "Customer", "customer", "customers", CUSTOMER_ID)
# The resource listed under each resource's members route: a group's customers.
MEMBERS: dict[Resource, Resource] = {CUSTOMER_GROUPS: CUSTOMERS}

# (method, route, operation id, summary) of each kind, for a resource.
_SHAPES: dict[Kind, tuple[str, Route, str, str]] = {
    "create": ("POST", "collection", "create{entity}", "Create a {one}"),
    "list": ("GET", "collection", "list{path}", "List {many}, a page at a time, or count them"),
    "bulk_update": ("PUT", "collection", "update{path}", "Update several {many} in one request"),
    "get": ("GET", "item", "get{entity}", "Get one {one} by id"),
    "update": ("PUT", "item", "update{entity}", "Update one {one} by id"),
    "delete": ("DELETE", "item", "delete{entity}", "Delete one {one} by id"),
    "members": ("GET", "members", "list{entity}Members", "List the members of one {one}, or count them"),
}
_SUCCESS: dict[Kind, int] = {"create": 201}


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of one resource (made by of(): everything but the handler follows from
    the resource and the kind)."""

    resource: Resource
    kind: Kind
    # A Write when ``writes``, else the reply.
    handler: Handler
    method: str
    route: Route
    operation_id: str
    summary: str
    success: int
    writes: bool  # needs the write scope (and reads a body unless it is DELETE)
    keyed: bool  # takes an Idempotency-Key (POST and bulk PUT)

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT")


def of(
    resource: Resource,
    kind: Kind,
    handler: Handler,
) -> Operation:
    method, route, operation_id, summary = _SHAPES[kind]
    return Operation(
        resource,
        kind,
        handler,
        method,
        route,
        operation_id.format(entity=resource.entity, path=resource.path),
        summary.format(one=resource.one, many=resource.many),
        success=_SUCCESS.get(kind, 200),
        writes=method != "GET",
        keyed=kind in ("create", "bulk_update"),
    )


OPERATIONS: tuple[Operation, ...] = (
    of(CUSTOMER_GROUPS, "create", h.create),
    of(CUSTOMER_GROUPS, "list", h.list_groups),
    of(CUSTOMER_GROUPS, "bulk_update", h.bulk_update),
    of(CUSTOMER_GROUPS, "get", h.get),
    of(CUSTOMER_GROUPS, "update", h.update),
    of(CUSTOMER_GROUPS, "delete", h.delete),
    of(CUSTOMER_GROUPS, "members", c.members),
    of(CUSTOMERS, "create", c.create),
    of(CUSTOMERS, "list", c.list_customers),
    of(CUSTOMERS, "bulk_update", c.bulk_update),
    of(CUSTOMERS, "get", c.get),
    of(CUSTOMERS, "update", c.update),
    of(CUSTOMERS, "delete", c.delete),
)
RESOURCES: dict[str, Resource] = {op.resource.path.lower(): op.resource for op in OPERATIONS}

_BY_KEY = {(op.resource, op.route, op.method): op for op in OPERATIONS}
ALLOWED: dict[tuple[Resource, Route], tuple[str, ...]] = {
    (resource, route): (
        *(op.method for op in OPERATIONS if op.resource is resource and op.route == route),
        "OPTIONS",
    )
    for resource in RESOURCES.values()
    for route in ("collection", "item", "members")
}


def operation(resource: Resource, route: Route, method: str) -> Operation | None:
    return _BY_KEY.get((resource, route, method))


@dataclass(frozen=True, slots=True)
class Match:
    resource: Resource
    route: Route
    path_id: str | None


@functools.lru_cache(maxsize=4096)  # C-level cache: a hit is ~0.1 us; a Match is immutable
def match(path: str) -> Match | None:
    """Match a request path to a 3dcart route, or None when it is not one."""
    parts = path.rstrip("/").split("/")
    # ['', '3dCartWebAPI', 'v1', 'CustomerGroups'], with an id after it, or the id and "Customers"
    if len(parts) not in (4, 5, 6) or parts[0] != "":
        return None
    if parts[1].lower() != "3dcartwebapi" or parts[2].lower() not in VERSIONS:
        return None
    resource = RESOURCES.get(parts[3].lower())
    if resource is None:
        return None
    if len(parts) == 4:
        return Match(resource, "collection", None)
    if not parts[4]:
        return None
    if len(parts) == 5:
        return Match(resource, "item", parts[4])
    listed = MEMBERS.get(resource)
    if listed is None or parts[5].lower() != listed.path.lower():
        return None
    return Match(resource, "members", parts[4])
