"""Rate limiting: 3dcart's leaky bucket, per store and application, shared by every process.

3dcart documents its REST API limit as a leaky bucket: each store and application has a bucket
of 50 requests that drains at 2 requests per second; a request that finds it full is refused with
429. ``cartgroups serve --rate-limit 3dcart`` does the same; ``--rate-limit 100/5`` sets another
capacity and drain rate; ``off`` (the default) does nothing at all.

The bucket lives in the database (storage/rate_limits.py), so the limit holds across all server
processes and hosts. Time comes from the database's clock by default, so hosts whose clocks
disagree still drain one bucket at one rate; tests inject a clock instead.

The check is awaited on the server's event loop, through the store (storage/store.py): on
PostgreSQL it waits for its statement without holding up other requests; on SQLite it is a
statement of microseconds, run on the loop, that must not wait long for the file's one write
lock. While the shared bucket cannot be written (on SQLite another process holds the write lock
for longer than WAIT_MS; or the database is not writable, or unreachable) a process decides by
its own copy of each bucket: the level the database last answered, drained by the time since,
plus what it let in since. One check at a time tries the shared bucket again, at most every
PROBE_SECONDS (on SQLite without waiting for the lock; on PostgreSQL that check waits for the
database, at most DOWN_WAIT_SECONDS while it is down, and the others go on by their own
buckets), and once that works adds to it what the process let in meanwhile (still in the
bucket, that is less what has drained). So the limit is exact while the database takes writes;
during an outage of D seconds each of P processes lets in at most what its own bucket allows
(capacity + rate x D, less the level it last saw), at most P times the exact figure in all, and
the excess is then paid back by the shared bucket refusing for longer. (On PostgreSQL, what a
process lets in while its last probe waits for the database stays owed until a later outage's
settle: at most one round trip's requests.) A read is never refused because the bucket cannot
be written.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass

from cartgroups.errors import DatabaseUnavailable
from cartgroups.offloop import off_loop
from cartgroups.service.credentials import Principal
from cartgroups.storage import rate_limits as bucket_sql
from cartgroups.storage.store import Store

log = logging.getLogger("cartgroups.rate_limit")

# How long a check waits for SQLite's write lock while the bucket is healthy. Another writer
# holds it for microseconds to a few milliseconds (one group commit); a check that still finds it
# taken after this long stops waiting, and the process decides by its own buckets (see above).
WAIT_MS = 100
# While the shared bucket cannot be written: how often a check tries it again (without waiting).
PROBE_SECONDS = 0.1
# Buckets a process keeps its own copy of (the least recently used is forgotten first), and how
# many buckets' meanwhile admissions one check adds to the shared buckets when they are back.
MAX_LOCAL_BUCKETS = 10_000
SETTLE_PER_CHECK = 32

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


StoreFilter = Callable[[int], bool] | Callable[[int], Awaitable[bool]] | Container[int] | None


class RateLimiter:
    """``check(principal)`` -> None when the request may go on, else the whole seconds to wait.

    ``stores`` limits which stores are throttled, and may be changed at run time (say, by a
    sandbox that throttles only the stores it is asked to): None throttles every store; a set
    (any container) of store ids throttles those; a callable ``store_id -> bool`` (or an async
    one, for a decision the database keeps) decides per request. ``clock`` returns seconds
    since the epoch; None (the default) uses the database's clock, the one clock every process
    and host shares."""

    def __init__(
        self,
        store: Store,
        rate: Rate,
        *,
        stores: StoreFilter = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.rate = rate
        self.stores = stores
        self.clock = clock
        # (store_id, application_id) -> this process's copy of the bucket, least recently used first.
        self._local: dict[tuple[int, int], _Local] = {}
        self._degraded_since: float | None = None  # time.monotonic() of the failure, when failing
        self._next_try = 0.0
        self._probing = False  # a check is probing the shared buckets while degraded
        self.decided_locally = 0  # checks answered by the process's own buckets: for tests, metrics

    async def enabled_for(self, store_id: int) -> bool:
        stores = self.stores
        if stores is None:
            return True
        if callable(stores):
            decided = stores(store_id)
            return bool(await decided) if inspect.isawaitable(decided) else bool(decided)
        return store_id in stores

    async def check(self, principal: Principal) -> int | None:
        """Count one request of this store and application; the seconds until a slot frees
        up (rounded up, at least 1) when the bucket is full, None when the request may go on."""
        if not await self.enabled_for(principal.store_id):
            return None
        rate = self.rate
        assert principal.application_id is not None, "API requests come from an application"
        key = (principal.store_id, principal.application_id)
        now = self._now()
        degraded = self._degraded_since is not None
        # While degraded, one check at a time probes the shared buckets (on PostgreSQL a probe
        # waits for the database, and other checks run meanwhile): the others decide locally.
        if not degraded or (not self._probing and time.monotonic() >= self._next_try):
            self._probing = degraded
            try:
                if degraded:
                    await self._settle()
                level, allowed = await self._take(key, wait_ms=0 if degraded else WAIT_MS)
            except (bucket_sql.Busy, DatabaseUnavailable) as exc:
                self._failed(exc)
            else:
                self._remember(key, level, now, owed=0.0)
                return None if allowed else retry_after(level, rate)
            finally:
                if degraded:
                    self._probing = False
        return self._decide_locally(key, now)

    def forget_local(self) -> None:
        """Forget this process's copies of the buckets, and what they owe the shared ones: after a
        restore, a store or application id may name another than it did (Authenticator.on_restore),
        and the restored shared buckets are the ones to go by."""
        self._local.clear()

    def _now(self) -> float:
        """The time of this process's own buckets (only differences of it are used)."""
        return self.clock() if self.clock is not None else time.monotonic()

    async def _take(self, key: tuple[int, int], *, wait_ms: int) -> tuple[float, bool]:
        rate = self.rate
        return await self.store.take_slot(
            store_id=key[0],
            application_id=key[1],
            capacity=rate.capacity,
            rate=rate.per_second,
            now=self.clock() if self.clock is not None else None,
            wait_ms=wait_ms,
        )

    def _remember(self, key: tuple[int, int], level: float, now: float, *, owed: float) -> None:
        local = self._local
        known = local.pop(key, None)
        local[key] = _Local(level, now, owed + (known.owed if known is not None else 0.0))
        if len(local) > MAX_LOCAL_BUCKETS:
            del local[next(iter(local))]

    def _decide_locally(self, key: tuple[int, int], now: float) -> int | None:
        """Admit or refuse by this process's copy of the bucket (the shared one cannot be written)."""
        self.decided_locally += 1
        rate = self.rate
        known = self._local.get(key)
        level = 0.0 if known is None else _drained(known, now, rate)
        if level + 1.0 > rate.capacity:
            return retry_after(level, rate)
        self._remember(key, level + 1.0, now, owed=1.0)
        return None

    def _failed(self, exc: Exception) -> None:
        if self._degraded_since is None:
            self._degraded_since = time.monotonic()
            why = "another process holds the write lock" if isinstance(exc, bucket_sql.Busy) else str(exc)
            log.warning(
                "rate limit: the shared buckets cannot be written (%s); deciding by this process's "
                "own buckets until they can",
                why,
            )
        self._next_try = time.monotonic() + PROBE_SECONDS

    async def _settle(self) -> None:
        """The shared buckets take writes again: add to them what this process let in meanwhile
        (SETTLE_PER_CHECK buckets a call, so that no check does much; the process decides by its
        own buckets until all are settled). Raises Busy or DatabaseUnavailable like take()."""
        rate, now = self.rate, self._now()
        owing = [(key, known) for key, known in self._local.items() if known.owed > 0]
        for key, known in owing[:SETTLE_PER_CHECK]:
            # What is still in the bucket of what was let in here (the rest has drained).
            owed = known.owed
            amount = min(owed, _drained(known, now, rate))
            if amount > 0:
                await self.store.charge_slots(
                    store_id=key[0],
                    application_id=key[1],
                    amount=amount,
                    capacity=rate.capacity,
                    rate=rate.per_second,
                    now=self.clock() if self.clock is not None else None,
                    wait_ms=0,
                )
            # Settled: what was owed then. Checks that ran meanwhile (on PostgreSQL the charge is
            # awaited) may have replaced the copy and let in more, which stays owed.
            current = self._local.get(key)
            if current is not None:
                current.owed = max(0.0, current.owed - owed)
        if len(owing) <= SETTLE_PER_CHECK:
            log.warning("rate limit: the shared buckets take writes again")
            self._degraded_since = None


@dataclass(slots=True)
class _Local:
    """A process's copy of one bucket: its ``level`` at ``at`` (the limiter's clock), and how many
    of the requests in it were let in here without reaching the shared bucket (``owed``)."""

    level: float
    at: float
    owed: float


def _drained(known: _Local, now: float, rate: Rate) -> float:
    return max(0.0, known.level - max(0.0, now - known.at) * rate.per_second)


def retry_after(level: float, rate: Rate) -> int:
    """Whole seconds, rounded up, until a bucket at ``level`` has drained room for one request."""
    excess = level - (rate.capacity - 1)
    return max(1, math.ceil(excess / rate.per_second - 1e-9))


def from_setting(store: Store, setting: str) -> RateLimiter | None:
    """The limiter the ``rate_limit`` setting asks for; None when it is off."""
    rate = parse_rate(setting)
    return None if rate is None else RateLimiter(store, rate)


def switchable(
    store: Store, configured: RateLimiter | None, override: Callable[[int], bool | None]
) -> RateLimiter:
    """A limiter whose throttling a sandbox turns on or off per store at run time.

    ``override(store_id)`` says True (throttle the store), False (never throttle it) or None (no
    override: throttle as configured — every store when the server has a rate limit, none when
    it is off). With the limit off, a store switched on gets 3dcart's own bucket."""
    limiter = configured if configured is not None else RateLimiter(store, THREEDCART_RATE)
    default = configured is not None

    async def throttled(store_id: int) -> bool:
        # The override is a synchronous read of the sandbox's table: off the event loop.
        chosen = await off_loop(override, store_id)
        return default if chosen is None else chosen

    limiter.stores = throttled
    return limiter
