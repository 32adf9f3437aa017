"""Rate limiting: 3dcart's leaky bucket, per store and application, shared by every process.

3dcart documents its REST API limit as a leaky bucket: each store and application has a bucket
of 50 requests that drains at 2 requests per second; a request that finds it full is refused with
429. ``cartgroups serve --rate-limit 3dcart`` does the same; ``--rate-limit 100/5`` sets another
capacity and drain rate; ``off`` (the default) does nothing at all.

The bucket lives in the database (storage/rate_limits.py), so the limit holds across all server
processes and hosts. Time comes from the database's clock by default, so hosts whose clocks
disagree still drain one bucket at one rate; tests inject a clock instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container
from dataclasses import dataclass

from cartgroups.service.credentials import Principal
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.database import Database

OFF = "off"
THREEDCART = "3dcart"
_CUSTOM = re.compile(r"(\d+)/(\d+(?:\.\d+)?)")
RULE = (
    "rate limit must be off, 3dcart (50 requests draining 2 per second) or CAPACITY/PER_SECOND such as 100/5"
)


@dataclass(frozen=True, slots=True)
class Rate:
    """A bucket of ``capacity`` requests draining ``per_second`` requests each second."""

    capacity: int
    per_second: float

    def __str__(self) -> str:
        return f"{self.capacity}/{self.per_second:g}"


THREEDCART_RATE = Rate(50, 2.0)


def parse_rate(text: str) -> Rate | None:
    """``off`` -> None, ``3dcart`` -> 50/2, ``100/5`` -> Rate(100, 5.0); ValueError otherwise."""
    spec = text.strip().lower()
    if spec == OFF:
        return None
    if spec == THREEDCART:
        return THREEDCART_RATE
    found = _CUSTOM.fullmatch(spec)
    if found is None:
        raise ValueError(RULE)
    capacity, per_second = int(found[1]), float(found[2])
    if not (1 <= capacity <= 1_000_000 and 0 < per_second <= 1_000_000):
        raise ValueError(f"{RULE}; capacity 1 to 1000000, per second above 0 and at most 1000000")
    return Rate(capacity, per_second)


StoreFilter = Callable[[int], bool] | Container[int] | None


class RateLimiter:
    """``check(principal)`` -> None when the request may go on, else the whole seconds to wait.

    ``stores`` limits which stores are throttled, and may be changed at run time (say, by a
    sandbox that throttles only the stores it is asked to): None throttles every store; a set
    (any container) of store ids throttles those; a callable ``store_id -> bool`` decides per
    request. ``clock`` returns seconds since the epoch; None (the default) uses the database's
    clock, the one clock every process and host shares."""

    def __init__(
        self,
        db: Database,
        rate: Rate,
        *,
        stores: StoreFilter = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.rate = rate
        self.stores = stores
        self.clock = clock

    def enabled_for(self, store_id: int) -> bool:
        stores = self.stores
        if stores is None:
            return True
        if callable(stores):
            return bool(stores(store_id))
        return store_id in stores

    def check(self, principal: Principal) -> int | None:
        """Count one request of this store and application; the seconds until a slot frees
        up (rounded up, at least 1) when the bucket is full, None when the request may go on."""
        if not self.enabled_for(principal.store_id):
            return None
        rate = self.rate
        assert principal.application_id is not None, "API requests come from an application"
        with self.db.write_volatile() as conn:
            level, allowed = bucket_sql.take(
                conn,
                store_id=principal.store_id,
                application_id=principal.application_id,
                capacity=rate.capacity,
                rate=rate.per_second,
                now=self.clock() if self.clock is not None else None,
            )
        if allowed:
            return None
        return retry_after(level, rate)


def retry_after(level: float, rate: Rate) -> int:
    """Whole seconds, rounded up, until a bucket at ``level`` has drained room for one request."""
    excess = level - (rate.capacity - 1)
    return max(1, math.ceil(excess / rate.per_second - 1e-9))


def from_setting(db: Database, setting: str) -> RateLimiter | None:
    """The limiter the ``rate_limit`` setting asks for; None when it is off."""
    rate = parse_rate(setting)
    return None if rate is None else RateLimiter(db, rate)


def switchable(
    db: Database, configured: RateLimiter | None, override: Callable[[int], bool | None]
) -> RateLimiter:
    """A limiter whose throttling a sandbox turns on or off per store at run time.

    ``override(store_id)`` says True (throttle the store), False (never throttle it) or None (no
    override: throttle as configured — every store when the server has a rate limit, none when
    it is off). With the limit off, a store switched on gets 3dcart's own bucket."""
    limiter = configured if configured is not None else RateLimiter(db, THREEDCART_RATE)
    default = configured is not None

    def throttled(store_id: int) -> bool:
        chosen = override(store_id)
        return default if chosen is None else chosen

    limiter.stores = throttled
    return limiter
