"""The async twin of ``Client``: the same methods, awaited (``iter_all`` is an async iterator)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

import httpx

from cartgroups.client import _core, customers
from cartgroups.client._core import OrderBy, Select
from cartgroups.client.customers import AsyncCustomers, Customer
from cartgroups.client.models import CustomerGroup, ItemResult, PartialCustomerGroup

T = TypeVar("T")
Groups = list[CustomerGroup]
Partials = list[PartialCustomerGroup]
Results = list[ItemResult]
CustomerList = list[Customer]
_JSON = {"Content-Type": "application/json"}


class AsyncClient:
    """See ``cartgroups.client.Client``; use with ``async with`` or call ``await aclose()``."""

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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = _core.api_root(base_url, version)
        self.secure_url = secure_url
        self.retry = _core.RetryPolicy(retries=retries, backoff=backoff)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_core.auth_headers(secure_url, private_key, token),
            timeout=_core.timeout_of(timeout),
            transport=transport,
        )
        self.customers = AsyncCustomers(self._run)
        """The Customers routes, awaited (``iter_all`` is an async iterator)."""

    def __repr__(self) -> str:  # no secrets
        return f"<AsyncClient {self.base_url} store={self.secure_url!r}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    close = aclose

    async def _run(self, op: _core.Operation[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
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
            await asyncio.sleep(delay)
            attempt += 1

    async def create(self, group: CustomerGroup | None = None, /, **fields: Any) -> int:
        return await self._run(_core.create_op(group, fields))

    @overload
    async def get(
        self, group_id: int, *, select: None = None, order_by: OrderBy | None = None
    ) -> CustomerGroup: ...
    @overload
    async def get(
        self, group_id: int, *, select: Select, order_by: OrderBy | None = None
    ) -> PartialCustomerGroup: ...
    async def get(
        self, group_id: int, *, select: Select | None = None, order_by: OrderBy | None = None
    ) -> CustomerGroup | PartialCustomerGroup:
        if select is None:
            return await self._run(_core.get_op(group_id, order_by))
        return await self._run(_core.get_selected_op(group_id, select, order_by))

    @overload
    async def list(
        self, limit: int = 10, offset: int = 1, *, select: None = None, order_by: OrderBy | None = None
    ) -> Groups: ...
    @overload
    async def list(
        self, limit: int = 10, offset: int = 1, *, select: Select, order_by: OrderBy | None = None
    ) -> Partials: ...
    async def list(
        self,
        limit: int = 10,
        offset: int = 1,
        *,
        select: Select | None = None,
        order_by: OrderBy | None = None,
    ) -> Groups | Partials:
        if select is None:
            return await self._run(_core.list_op(limit, offset, order_by))
        return await self._run(_core.list_selected_op(limit, offset, select, order_by))

    async def iter_all(self, page_size: int = 100) -> AsyncIterator[CustomerGroup]:
        async for group in _core.aiter_pages(
            lambda offset: self.list(limit=page_size, offset=offset), page_size
        ):
            yield group

    async def count(self) -> int:
        return await self._run(_core.count_op())

    async def update(self, group_id: int, /, **fields: Any) -> None:
        await self._run(_core.update_op(group_id, fields))

    async def bulk_update(self, items: Iterable[CustomerGroup | Mapping[str, Any]]) -> Results:
        return await self._run(_core.bulk_update_op(items))

    async def delete(self, group_id: int) -> None:
        await self._run(_core.delete_op(group_id))

    async def group_members(
        self, group_id: int, limit: int = 10, offset: int = 1, **filters: str | datetime | None
    ) -> CustomerList:
        return await self._run(customers.members_op(group_id, limit, offset, filters))

    async def count_group_members(self, group_id: int, **filters: str | datetime | None) -> int:
        return await self._run(customers.count_members_op(group_id, filters))
