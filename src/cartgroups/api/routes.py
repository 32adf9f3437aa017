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

Route = Literal["collection", "item"]
VERSIONS = ("v1", "v2")
PREFIX = "/3dCartWebAPI"
RESOURCE = "CustomerGroups"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    route: Route
    operation_id: str
    summary: str
    # A Write when ``writes``, else the reply.
    handler: Callable[[h.Call], Awaitable[h.Reply]] | Callable[[h.Call], Awaitable[h.Write[Any]]]
    success: int
    writes: bool  # needs the write scope (and reads a body unless it is DELETE)
    keyed: bool = False  # takes an Idempotency-Key (POST and bulk PUT)

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT")


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "collection",
        "createCustomerGroup",
        "Create a customer group",
        h.create,
        201,
        writes=True,
        keyed=True,
    ),
    Operation(
        "GET",
        "collection",
        "listCustomerGroups",
        "List customer groups, a page at a time, or count them",
        h.list_groups,
        200,
        False,
    ),
    Operation(
        "PUT",
        "collection",
        "updateCustomerGroups",
        "Update several customer groups in one request",
        h.bulk_update,
        200,
        writes=True,
        keyed=True,
    ),
    Operation("GET", "item", "getCustomerGroup", "Get one customer group by id", h.get, 200, False),
    Operation(
        "PUT", "item", "updateCustomerGroup", "Update one customer group by id", h.update, 200, writes=True
    ),
    Operation(
        "DELETE", "item", "deleteCustomerGroup", "Delete one customer group by id", h.delete, 200, writes=True
    ),
)

_BY_KEY = {(op.route, op.method): op for op in OPERATIONS}
ALLOWED: dict[Route, tuple[str, ...]] = {
    route: (*(op.method for op in OPERATIONS if op.route == route), "OPTIONS")
    for route in ("collection", "item")
}


def operation(route: Route, method: str) -> Operation | None:
    return _BY_KEY.get((route, method))


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    path_id: str | None


@functools.lru_cache(maxsize=4096)  # C-level cache: a hit is ~0.1 us; a Match is immutable
def match(path: str) -> Match | None:
    """Match a request path to a 3dcart route, or None when it is not one."""
    parts = path.rstrip("/").split("/")
    # ['', '3dCartWebAPI', 'v1', 'CustomerGroups'] or with an id after it
    if len(parts) not in (4, 5) or parts[0] != "":
        return None
    if parts[1].lower() != "3dcartwebapi" or parts[2].lower() not in VERSIONS:
        return None
    if parts[3].lower() != "customergroups":
        return None
    if len(parts) == 4:
        return Match("collection", None)
    return Match("item", parts[4]) if parts[4] else None
