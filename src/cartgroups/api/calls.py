"""What a resource's handlers take and give, whichever the resource (api/routes.py dispatches
to them): the request as a Call; a read's Reply; a write's Write.

A read handler returns the reply. A write handler checks and prepares the request and returns
a Write: the plan the store runs in a write transaction (storage/store.py; on SQLite, the
process's next group commit) and how its result becomes the reply. Whatever can be done before
the transaction is, because on SQLite it holds the write lock that every server process shares."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cartgroups.api.media import JSON, Media
from cartgroups.customer_model import CUSTOMER_ID
from cartgroups.service import validation
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.customers import Customers
from cartgroups.service.reads import KeptReads
from cartgroups.service.writes import Plan

Reply = tuple[int, bytes]
T = TypeVar("T")
Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Call:
    """One authenticated request, as the handlers see it: who asks, the path's id and query,
    the body, and the services a handler may use."""

    groups: CustomerGroups
    customers: Customers
    principal: Principal
    path_id: str | None
    query: dict[str, str]
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)  # the request's, names lower-cased
    reply_headers: Headers = field(default_factory=list)  # extra headers for the reply
    reads: KeptReads | None = None  # answers of reads kept until the database changes
    # For a read: the change token the request took before it verified the credentials
    # (storage/commits.py), which the read cache compares instead of asking again.
    changes: Hashable = None
    media: Media = JSON  # how the reply's bodies are written (the Accept header's choice)

    @property
    def store_id(self) -> int:
        return self.principal.store_id

    @property
    def item_id(self) -> int:
        """The id of an item route's path (/{Resource}/{id}), checked (Invalid)."""
        assert self.path_id is not None
        return validation.path_id(self.path_id)

    @property
    def customer_id(self) -> int:
        """The CustomerID of a /Customers/{id} path, checked (Invalid)."""
        assert self.path_id is not None
        return validation.path_id(self.path_id, CUSTOMER_ID)


@dataclass(frozen=True, slots=True)
class Write(Generic[T]):
    """A checked write request: ``await apply(tx)`` makes the change in the write transaction it
    is given and returns its result; ``answer(result)`` is the reply, from what apply returned."""

    apply: Plan[T]
    answer: Callable[[T], Reply]


__all__ = ["Call", "Headers", "Reply", "Write"]
