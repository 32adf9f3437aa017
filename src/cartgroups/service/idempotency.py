"""Idempotency-Key on POST and bulk PUT: a retried request gets the first response again and
writes nothing new.

The key is scoped to the store and the application of the verified principal and kept for
``ttl_seconds`` (24 hours). It is taken and its response stored in the same transaction as the
write itself, so a crash can leave neither a write without its key nor a key without its write.
A second request with the same key while the first is still running waits for it (on
PostgreSQL's unique key, on SQLite's write lock) and then replays its response.

Only responses that the handler returns are stored (2xx, and bulk results of any status). An
error raised before anything was written - a 400 for a bad body, say - rolls the key back with
everything else: the retry is judged afresh and gets the same answer.

Expired keys are taken over as new keys whenever they are used again, and deleted in bulk at
most every ``prune_every`` seconds per process, by the first keyed request after that.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from cartgroups.errors import Invalid, KeyReused
from cartgroups.service.credentials import Principal
from cartgroups.service.writes import Plan, Store, Transaction

TTL_SECONDS = 24 * 60 * 60
PRUNE_EVERY_SECONDS = 10 * 60
MAX_KEY_LENGTH = 255

BAD_KEY = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
REUSED = "This Idempotency-Key was already used with a different request; send a new key"


def checked_key(raw: str) -> str:
    """The header's value, or Invalid when it is empty, too long or not visible ASCII."""
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all("!" <= ch <= "~" for ch in raw):
        raise Invalid(BAD_KEY)
    return raw


def fingerprint(method: str, body: bytes, representation: str = "json") -> str:
    """What must be the same for a request to count as a retry: the method, the body bytes and
    the representation the reply is written in ("json", "xml"): the stored reply is replayed as
    it was written, so a retry that asks for another one is a different request. (A JSON reply
    adds nothing: keys stored before XML existed stay valid.)"""
    head = method if representation == "json" else f"{method} {representation}"
    return hashlib.sha256(head.encode() + b"\n" + body).hexdigest()


Response = tuple[int, bytes]


class Idempotency:
    def __init__(
        self,
        store: Store,
        *,
        ttl_seconds: float = TTL_SECONDS,
        prune_every: float = PRUNE_EVERY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.prune_every = prune_every
        self.clock = clock
        self._pruned_at = float("-inf")

    async def run(
        self,
        tx: Transaction,
        principal: Principal,
        *,
        key: str,
        fingerprint: str,
        work: Plan[Response],
    ) -> tuple[int, bytes, bool]:
        """``await work(tx)`` once per key: (status, body, replayed). The key is taken, the work
        run and its response stored in the write transaction ``tx``, so they commit or roll back
        together."""
        now = self.clock()
        if now - self._pruned_at >= self.prune_every:
            await self._prune(tx, now)
        store_id, app_id = principal.store_id, principal.application_id
        assert app_id is not None, "API requests come from an application"
        stored = await tx.claim_key(
            store_id=store_id,
            application_id=app_id,
            key=key,
            fingerprint=fingerprint,
            now=now,
            expired_before=now - self.ttl_seconds,
        )
        if stored is not None:
            first_fingerprint, status, body = stored
            if first_fingerprint != fingerprint:
                raise KeyReused(REUSED)
            return status, body, True
        status, body = await work(tx)
        await tx.finish_key(store_id=store_id, application_id=app_id, key=key, status=status, body=body)
        return status, body, False

    async def prune(self, now: float | None = None) -> int:
        """Delete the keys of every store that are older than the TTL; how many went."""
        when = self.clock() if now is None else now
        return await self.store.write(lambda tx: self._prune(tx, when))

    async def _prune(self, tx: Transaction, now: float) -> int:
        self._pruned_at = now
        return await tx.prune_keys(expired_before=now - self.ttl_seconds)
