"""The leaky bucket itself: parsing the setting, the bucket's arithmetic with an injected clock
(on both databases, since the arithmetic is one SQL statement), sharing between Database
objects, isolation per store and application, and the per-store switch.

The limiter reaches the bucket through a store (storage/store.py) and its check is awaited: the
tests drive it on their own event loop (``run``), with the ``store`` opened on it. A store serves
the loop it was opened on, so another Database, or another thread, gets a store of its own."""

from __future__ import annotations

import asyncio
import threading
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
    switchable,
)
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.database import Database
from cartgroups.storage.store import Store, open_store
from tests.service.conftest import Runner

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


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


def checks(run: Runner, limiter: RateLimiter, caller: Principal, times: int) -> list[int | None]:
    """``times`` checks of one caller, one after the other, on the test's loop."""
    return [run(limiter.check(caller)) for _ in range(times)]


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


def test_bucket_admits_capacity_then_refuses_until_a_slot_drains(
    db: Database, store: Store, run: Runner
) -> None:
    clock = Clock()
    limiter = RateLimiter(store, Rate(3, 2.0), clock=clock)
    caller = principal_of(db)
    assert checks(run, limiter, caller, 3) == [None, None, None]
    assert run(limiter.check(caller)) == 1  # full: 1 slot drains in 0.5 s, rounded up to 1
    assert run(limiter.check(caller)) == 1  # a refused request adds nothing
    clock.now += 0.25  # level 2.5: still no room for a whole request
    assert run(limiter.check(caller)) == 1
    clock.now += 0.25  # level 2.0: one fits
    assert run(limiter.check(caller)) is None
    assert run(limiter.check(caller)) == 1
    clock.now += 100  # drains to empty, not below
    assert checks(run, limiter, caller, 4) == [None, None, None, 1]


def test_3dcart_rate_is_50_requests_then_2_per_second(db: Database, store: Store, run: Runner) -> None:
    clock = Clock()
    limiter = RateLimiter(store, THREEDCART_RATE, clock=clock)
    caller = principal_of(db)
    assert all(wait is None for wait in checks(run, limiter, caller, 50))
    assert run(limiter.check(caller)) == 1
    clock.now += 1.0  # two slots drained
    assert checks(run, limiter, caller, 3) == [None, None, 1]


def test_retry_after_is_computed_from_the_drained_level(db: Database, store: Store, run: Runner) -> None:
    clock = Clock()
    limiter = RateLimiter(store, Rate(2, 0.1), clock=clock)  # one slot every 10 s
    caller = principal_of(db)
    assert checks(run, limiter, caller, 3) == [None, None, 10]
    clock.now += 3.5
    assert run(limiter.check(caller)) == 7  # 6.5 s left, rounded up


def test_a_clock_going_backwards_drains_nothing(db: Database, store: Store, run: Runner) -> None:
    clock = Clock()
    limiter = RateLimiter(store, Rate(2, 1.0), clock=clock)
    caller = principal_of(db)
    assert checks(run, limiter, caller, 2) == [None, None]
    clock.now -= 60
    assert run(limiter.check(caller)) == 1
    assert caller.application_id is not None
    with db.read() as conn:
        assert (
            bucket_sql.level_of(conn, store_id=caller.store_id, application_id=caller.application_id) == 2.0
        )


def test_buckets_are_per_store_and_application(db: Database, store: Store, run: Runner) -> None:
    clock = Clock()
    limiter = RateLimiter(store, Rate(2, 1.0), clock=clock)
    main = principal_of(db, "a.example.com", "app-one")
    same_store_other_app = principal_of(db, "a.example.com", "app-two")
    other_store_same_app = principal_of(db, "b.example.com", "app-three")
    assert checks(run, limiter, main, 3) == [None, None, 1]
    assert checks(run, limiter, same_store_other_app, 3) == [None, None, 1]
    assert checks(run, limiter, other_store_same_app, 3) == [None, None, 1]


def test_the_bucket_is_shared_by_two_database_objects(
    db: Database, store: Store, run: Runner, empty_database_url: str
) -> None:
    clock = Clock()
    caller = principal_of(db)
    other_db = Database(empty_database_url)  # its own engine and connections, like another process
    other_store = open_store(other_db)  # and its own store (on PostgreSQL, its own pool)
    try:
        here, there = (
            RateLimiter(store, Rate(4, 1.0), clock=clock),
            RateLimiter(other_store, Rate(4, 1.0), clock=clock),
        )
        assert [
            run(here.check(caller)),
            run(there.check(caller)),
            run(here.check(caller)),
            run(there.check(caller)),
        ] == [None] * 4
        assert run(here.check(caller)) == 1
        assert run(there.check(caller)) == 1
    finally:
        run(other_store.close())
        other_db.dispose()


def test_concurrent_checks_never_admit_more_than_the_capacity(db: Database, empty_database_url: str) -> None:
    """Threads with their own Database objects hammer one bucket at one instant: exactly
    ``capacity`` requests get through, however the statements interleave. Each thread runs its
    checks on an event loop of its own, through a store opened on it."""
    clock = Clock()
    caller = principal_of(db)
    threads, each, capacity = 4, 10, 15
    barrier = threading.Barrier(threads)

    async def hammer_on(own: Database) -> list[int | None]:
        opened = open_store(own)
        try:
            await opened.open()
            limiter = RateLimiter(opened, Rate(capacity, 0.001), clock=clock)
            # Waited for off the loop, so that a PostgreSQL pool goes on connecting meanwhile.
            await asyncio.to_thread(barrier.wait, 30)
            return [await limiter.check(caller) for _ in range(each)]
        finally:
            await opened.close()

    def hammer(_: int) -> list[int | None]:
        own = Database(empty_database_url)
        try:
            return asyncio.run(hammer_on(own))
        finally:
            own.dispose()

    with ThreadPoolExecutor(threads) as pool:
        results = [r for batch in pool.map(hammer, range(threads)) for r in batch]
    assert results.count(None) == capacity
    assert set(results) == {None, 1000}


def test_the_store_switch_throttles_only_the_stores_it_names(db: Database, store: Store, run: Runner) -> None:
    clock = Clock()
    limiter = RateLimiter(store, Rate(1, 1.0), clock=clock, stores={-1})
    first = principal_of(db, "a.example.com", "app-one")
    second = principal_of(db, "b.example.com", "app-two")
    assert checks(run, limiter, first, 3) == [None] * 3  # not in the set
    limiter.stores = {first.store_id}  # switched at run time
    assert run(limiter.enabled_for(first.store_id)) and not run(limiter.enabled_for(second.store_id))
    assert checks(run, limiter, first, 2) == [None, 1]
    assert checks(run, limiter, second, 3) == [None] * 3
    limiter.stores = lambda store_id: store_id == second.store_id  # a callable decides
    assert checks(run, limiter, second, 2) == [None, 1]
    assert run(limiter.check(first)) is None  # not limited any more (the refused one added nothing)
    limiter.stores = None  # every store
    assert run(limiter.check(first)) == 1

    async def only_first(store_id: int) -> bool:  # an async callable (a sandbox's override)
        return store_id == first.store_id

    limiter.stores = only_first
    assert run(limiter.check(second)) is None  # not limited
    assert run(limiter.check(first)) == 1


def test_the_database_clock_is_used_when_none_is_injected(db: Database, store: Store, run: Runner) -> None:
    limiter = RateLimiter(store, Rate(2, 0.001))
    caller = principal_of(db)
    assert checks(run, limiter, caller, 2) == [None, None]
    wait = run(limiter.check(caller))
    assert wait is not None and 1 <= wait <= 1000  # one slot at 0.001/s, less what drained meanwhile


def test_off_makes_no_limiter(store: Store) -> None:
    assert from_setting(store, "off") is None
    limiter = from_setting(store, "3dcart")
    assert limiter is not None and limiter.rate == THREEDCART_RATE and limiter.store is store


def test_a_sandboxs_throttle_override_is_read_off_the_event_loop(
    db: Database, store: Store, run: Runner
) -> None:
    """switchable()'s override reads the sandbox's table (synchronous): it runs on the thread
    for such work (offloop.py), so that on PostgreSQL it holds up no other request."""
    seen: list[str] = []
    caller = principal_of(db)

    def override(store_id: int) -> bool | None:
        seen.append(threading.current_thread().name)
        return True if store_id == caller.store_id else None

    limiter = switchable(store, None, override)  # off, but this store switched on
    assert run(limiter.check(caller)) is None
    assert seen and all(name.startswith("cartgroups-sync") for name in seen)
