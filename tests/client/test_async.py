"""The async twin against the real server: the same methods and results, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from cartgroups.client import OFFSET_EXCEEDED, AsyncClient, BadRequest, CustomerGroup, NotFound


def test_every_method_of_the_async_client(make_async_client: Callable[..., AsyncClient]) -> None:
    async def scenario() -> None:
        async with make_async_client() as client:
            assert await client.list() == []
            assert await client.count() == 0
            assert [g async for g in client.iter_all()] == []

            first = await client.create(name="Wholesale", minimum_order=Decimal("34158822.957761675"))
            assert first == 1
            got = await client.get(first)
            assert str(got.minimum_order) == "34158822.957761675"
            assert await client.create(CustomerGroup(name="Retail", minimum_order=Decimal("1.50"))) == 2
            assert str((await client.get(2)).minimum_order) == "1.50"
            for n in range(3, 26):
                await client.create(name=f"g{n}")

            ids = [g.group_id async for g in client.iter_all(page_size=10)]
            assert ids == list(range(1, 26))
            assert [g.group_id for g in await client.list(limit=5, offset=21)] == [21, 22, 23, 24, 25]
            assert await client.count() == 25
            with pytest.raises(BadRequest) as info:
                await client.list(offset=26)
            assert info.value.message == OFFSET_EXCEEDED

            await client.update(1, description="updated")
            assert (await client.get(1)).description == "updated"
            results = await client.bulk_update([{"group_id": 1, "name": "x"}, {"group_id": 99, "name": "y"}])
            assert [(r.status, r.value) for r in results] == [(200, "1"), (404, "99")]

            await client.delete(1)
            with pytest.raises(NotFound) as missing:
                await client.get(1)
            assert missing.value.status == 404
            assert await client.count() == 24

    asyncio.run(scenario())


def test_concurrent_requests_share_one_async_client(make_async_client: Callable[..., AsyncClient]) -> None:
    async def scenario() -> list[int]:
        client = make_async_client()
        try:
            return sorted(await asyncio.gather(*(client.create(name=f"g{n}") for n in range(10))))
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == list(range(1, 11))
