"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

import httpx

from cartgroups.client import _core, customers
from cartgroups.client._core import OrderBy, Select
from cartgroups.client.customers import Customer, Customers
from cartgroups.client.models import CustomerGroup, ItemResult, PartialCustomerGroup

T = TypeVar("T")
Groups = list[CustomerGroup]
Partials = list[PartialCustomerGroup]
Results = list[ItemResult]
CustomerList = list[Customer]
_JSON = {"Content-Type": "application/json"}


class Client:
    """The 3dcart CustomerGroups API, against 3dcart itself (the default ``base_url``) or any
    cartgroups server. Credentials go in the three 3dcart headers on every request."""

    def __init__(
        self,
        base_url: str = _core.DEFAULT_BASE_URL,
        secure_url: str | None = None,
        private_key: str | None = None,
        token: str | None = None,
        *,
        version: str = "v1",
        timeout: float | httpx.Timeout | None = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _core.api_root(base_url, version)
        self.secure_url = secure_url
        self.retry = _core.RetryPolicy(retries=retries, backoff=backoff)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=_core.auth_headers(secure_url, private_key, token),
            timeout=_core.timeout_of(timeout),
            transport=transport,
        )
        self.customers = Customers(self._run)
        """The Customers routes: create, get, list, iter_all, count, update, bulk_update, delete."""

    def __repr__(self) -> str:  # no secrets
        return f"<Client {self.base_url} store={self.secure_url!r}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, op: _core.Operation[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    op.method,
                    op.path,
                    params=op.params,
                    content=op.content,
                    headers=_JSON if op.content else None,
                )
            except httpx.TransportError as exc:
                _core.log_attempt(op.method, op.path, attempt, type(exc).__name__)
                delay = self.retry.after_error(op.method, attempt, exc)
                if delay is None:
                    raise _core.connection_error(op.method, op.path, exc) from exc
            else:
                _core.log_attempt(op.method, op.path, attempt, str(response.status_code))
                delay = self.retry.after_response(op.method, attempt, response)
                if delay is None:
                    return op.parse(response)
            time.sleep(delay)
            attempt += 1

    def create(self, group: CustomerGroup | None = None, /, **fields: Any) -> int:
        """Create a group from a ``CustomerGroup`` and/or keyword fields; returns the new id."""
        return self._run(_core.create_op(group, fields))

    @overload
    def get(
        self, group_id: int, *, select: None = None, order_by: OrderBy | None = None
    ) -> CustomerGroup: ...
    @overload
    def get(
        self, group_id: int, *, select: Select, order_by: OrderBy | None = None
    ) -> PartialCustomerGroup: ...
    def get(
        self, group_id: int, *, select: Select | None = None, order_by: OrderBy | None = None
    ) -> CustomerGroup | PartialCustomerGroup:
        """One group; ``NotFound`` when there is none with that id. With ``select=`` (field names,
        e.g. ``["name", "price_level"]`` or ``"Name,PriceLevel"``) only those fields are sent: a
        ``PartialCustomerGroup`` whose other fields are None. ``order_by=`` is sent as
        ``$orderby`` (it sorts a one-element list, so it changes nothing but may be refused)."""
        if select is None:
            return self._run(_core.get_op(group_id, order_by))
        return self._run(_core.get_selected_op(group_id, select, order_by))

    @overload
    def list(
        self, limit: int = 10, offset: int = 1, *, select: None = None, order_by: OrderBy | None = None
    ) -> Groups: ...
    @overload
    def list(
        self, limit: int = 10, offset: int = 1, *, select: Select, order_by: OrderBy | None = None
    ) -> Partials: ...
    def list(
        self,
        limit: int = 10,
        offset: int = 1,
        *,
        select: Select | None = None,
        order_by: OrderBy | None = None,
    ) -> Groups | Partials:
        """One page in id order; ``offset`` is the 1-based record index. An empty store is [].

        ``order_by=`` (``"name desc"``, ``"PriceLevel desc,Name"`` or ``["price_level desc",
        "name"]``) sorts the page the server has built, not the whole store: page 1 sorted by
        name is groups 1 to ``limit`` in name order. ``select=`` (field names) returns
        ``PartialCustomerGroup`` objects holding only those fields (docs/api.md, "OData")."""
        if select is None:
            return self._run(_core.list_op(limit, offset, order_by))
        return self._run(_core.list_selected_op(limit, offset, select, order_by))

    def iter_all(self, page_size: int = 100) -> Iterator[CustomerGroup]:
        """Every group, page by page, until an empty page or the "Offset amount exceeds" answer."""
        return _core.iter_pages(lambda offset: self.list(limit=page_size, offset=offset), page_size)

    def count(self) -> int:
        return self._run(_core.count_op())

    def update(self, group_id: int, /, **fields: Any) -> None:
        """Change only the given fields of one group."""
        self._run(_core.update_op(group_id, fields))

    def bulk_update(self, items: Iterable[CustomerGroup | Mapping[str, Any]]) -> Results:
        """Update many groups in one request; one result per item, in order. Does not raise when
        only some items failed (206) or all did (404/400 with per-item records)."""
        return self._run(_core.bulk_update_op(items))

    def delete(self, group_id: int) -> None:
        self._run(_core.delete_op(group_id))

    # --- a group's customers (GET /CustomerGroups/{id}/Customers)

    def group_members(
        self, group_id: int, limit: int = 10, offset: int = 1, **filters: str | datetime | None
    ) -> CustomerList:
        """One page of the customers in the group, in id order, with the filters of
        ``customers.list``. A missing group, or no member matching, is [] (the server answers
        both with 404; ``count_group_members`` tells them apart)."""
        return self._run(customers.members_op(group_id, limit, offset, filters))

    def count_group_members(self, group_id: int, **filters: str | datetime | None) -> int:
        """How many customers of the group match the filters; ``NotFound`` for a missing group."""
        return self._run(customers.count_members_op(group_id, filters))
