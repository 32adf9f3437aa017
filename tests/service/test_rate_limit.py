"""The leaky bucket itself: parsing the setting, the bucket's arithmetic with an injected clock
(on both databases, since the arithmetic is one SQL statement), sharing between Database
objects, isolation per store and application, and the per-store switch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cartgroups.service import credentials
from cartgroups.service.credentials import Authenticator, Issued, Principal
from cartgroups.service.rate_limit import (
    THREEDCART_RATE,
    Rate,
    RateLimiter,
    from_setting,
    parse_rate,
    retry_after,
)
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.database import Database
from cartgroups.storage.store import open_store

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


def principal_of(db: Database, store: str = "shop.example.com", app: str = "default") -> Principal:
    issued: Issued = credentials.issue(db, secure_url=store, application=app)
    assert issued.private_key is not None, "use a new application name per principal"
    private_key = issued.private_key

    async def verified() -> Principal:
        opened = open_store(db)  # on this call's own event loop, closed after
        try:
            auth = Authenticator(opened, cache_seconds=0)
            return await auth.verify(
                secure_url=issued.secure_url, private_key=private_key, token=issued.token, write=False
            )
        finally:
            await opened.close()

    return asyncio.run(verified())


def test_parse_rate() -> None:
    assert parse_rate("off") is None
    assert parse_rate(" OFF ") is None
    assert parse_rate("3dcart") == THREEDCART_RATE == Rate(50, 2.0)
    assert parse_rate("100/5") == Rate(100, 5.0)
    assert parse_rate("10/0.5") == Rate(10, 0.5)
    for bad in ("", "on", "100", "100/0", "0/5", "-1/5", "1/-1", "a/b", "100/5/1", "2000000/1"):
        with pytest.raises(ValueError, match="rate limit must be off, 3dcart"):
            parse_rate(bad)


def test_retry_after_is_whole_seconds_rounded_up_until_one_slot_drains() -> None:
    rate = Rate(50, 2.0)
    assert retry_after(50.0, rate) == 1  # one request over: half a second, rounded up
    assert retry_after(49.01, rate) == 1
    assert retry_after(51.0, rate) == 1
    assert retry_after(51.5, rate) == 2
    slow = Rate(3, 0.25)
    assert retry_after(3.0, slow) == 4  # one slot at 0.25/s is 4 s
    assert retry_after(2.5, slow) == 2


def test_bucket_admits_capacity_then_refuses_until_a_slot_drains(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, Rate(3, 2.0), clock=clock)
    caller = principal_of(db)
    assert [limiter.check(caller) for _ in range(3)] == [None, None, None]
    assert limiter.check(caller) == 1  # full: 1 slot drains in 0.5 s, rounded up to 1
    assert limiter.check(caller) == 1  # a refused request adds nothing
    clock.now += 0.25  # level 2.5: still no room for a whole request
    assert limiter.check(caller) == 1
    clock.now += 0.25  # level 2.0: one fits
    assert limiter.check(caller) is None
    assert limiter.check(caller) == 1
    clock.now += 100  # drains to empty, not below
    assert [limiter.check(caller) for _ in range(4)] == [None, None, None, 1]


def test_3dcart_rate_is_50_requests_then_2_per_second(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, THREEDCART_RATE, clock=clock)
    caller = principal_of(db)
    assert all(limiter.check(caller) is None for _ in range(50))
    assert limiter.check(caller) == 1
    clock.now += 1.0  # two slots drained
    assert [limiter.check(caller) for _ in range(3)] == [None, None, 1]


def test_retry_after_is_computed_from_the_drained_level(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, Rate(2, 0.1), clock=clock)  # one slot every 10 s
    caller = principal_of(db)
    assert [limiter.check(caller) for _ in range(3)] == [None, None, 10]
    clock.now += 3.5
    assert limiter.check(caller) == 7  # 6.5 s left, rounded up


def test_a_clock_going_backwards_drains_nothing(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, Rate(2, 1.0), clock=clock)
    caller = principal_of(db)
    assert [limiter.check(caller), limiter.check(caller)] == [None, None]
    clock.now -= 60
    assert limiter.check(caller) == 1
    assert caller.application_id is not None
    with db.read() as conn:
        assert (
            bucket_sql.level_of(conn, store_id=caller.store_id, application_id=caller.application_id) == 2.0
        )


def test_buckets_are_per_store_and_application(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, Rate(2, 1.0), clock=clock)
    main = principal_of(db, "a.example.com", "app-one")
    same_store_other_app = principal_of(db, "a.example.com", "app-two")
    other_store_same_app = principal_of(db, "b.example.com", "app-three")
    assert [limiter.check(main) for _ in range(3)] == [None, None, 1]
    assert [limiter.check(same_store_other_app) for _ in range(3)] == [None, None, 1]
    assert [limiter.check(other_store_same_app) for _ in range(3)] == [None, None, 1]


def test_the_bucket_is_shared_by_two_database_objects(db: Database, empty_database_url: str) -> None:
    clock = Clock()
    caller = principal_of(db)
    other_db = Database(empty_database_url)  # its own engine and connections, like another process
    try:
        here, there = (
            RateLimiter(db, Rate(4, 1.0), clock=clock),
            RateLimiter(other_db, Rate(4, 1.0), clock=clock),
        )
        assert [here.check(caller), there.check(caller), here.check(caller), there.check(caller)] == [
            None
        ] * 4
        assert here.check(caller) == 1
        assert there.check(caller) == 1
    finally:
        other_db.dispose()


def test_concurrent_checks_never_admit_more_than_the_capacity(db: Database, empty_database_url: str) -> None:
    """Threads with their own Database objects hammer one bucket at one instant: exactly
    ``capacity`` requests get through, however the statements interleave."""
    clock = Clock()
    caller = principal_of(db)
    threads, each, capacity = 4, 10, 15
    barrier = threading.Barrier(threads)

    def hammer(_: int) -> list[int | None]:
        own = Database(empty_database_url)
        try:
            limiter = RateLimiter(own, Rate(capacity, 0.001), clock=clock)
            barrier.wait(timeout=30)
            return [limiter.check(caller) for _ in range(each)]
        finally:
            own.dispose()

    with ThreadPoolExecutor(threads) as pool:
        results = [r for batch in pool.map(hammer, range(threads)) for r in batch]
    assert results.count(None) == capacity
    assert set(results) == {None, 1000}


def test_the_store_switch_throttles_only_the_stores_it_names(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, Rate(1, 1.0), clock=clock, stores={-1})
    first = principal_of(db, "a.example.com", "app-one")
    second = principal_of(db, "b.example.com", "app-two")
    assert [limiter.check(first) for _ in range(3)] == [None] * 3  # not in the set
    limiter.stores = {first.store_id}  # switched at run time
    assert limiter.enabled_for(first.store_id) and not limiter.enabled_for(second.store_id)
    assert [limiter.check(first), limiter.check(first)] == [None, 1]
    assert [limiter.check(second) for _ in range(3)] == [None] * 3
    limiter.stores = lambda store_id: store_id == second.store_id  # a callable decides
    assert [limiter.check(second), limiter.check(second)] == [None, 1]
    assert limiter.check(first) is None  # not limited any more (the refused one added nothing)
    limiter.stores = None  # every store
    assert limiter.check(first) == 1


def test_the_database_clock_is_used_when_none_is_injected(db: Database) -> None:
    limiter = RateLimiter(db, Rate(2, 0.001))
    caller = principal_of(db)
    assert [limiter.check(caller), limiter.check(caller)] == [None, None]
    wait = limiter.check(caller)
    assert wait is not None and 1 <= wait <= 1000  # one slot at 0.001/s, less what drained meanwhile


def test_off_makes_no_limiter(db: Database) -> None:
    assert from_setting(db, "off") is None
    limiter = from_setting(db, "3dcart")
    assert limiter is not None and limiter.rate == THREEDCART_RATE
