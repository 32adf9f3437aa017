"""HTTP side of the sandbox (``cartgroups serve --sandbox``): the control endpoints under
/_cartgroups/, and what happens around each 3dcart request — fault rules, then the journal.

The app hands a request here only when the sandbox is on; with it off, /_cartgroups/ is an
unknown path like any other (404 record) and nothing here runs.

The sandbox service (service/sandbox.py) is written against the synchronous Database. Every
call into it that reaches the database runs off the event loop, ``await off_loop(...)``
(cartgroups/offloop.py): on PostgreSQL each is a round trip, and seconds while the database does
not answer, which on the loop would hold up every request of the process. The calls that only
touch memory stay on the loop, where a thread hop would buy nothing: check_token, canonical,
fault_of and record (which only queues the entry; flush_journal writes it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import orjson

from cartgroups.api import errors, routes, wire
from cartgroups.api.deadlines import Deadlines
from cartgroups.api.dispatch import (
    Reply,
    error_reply,
    read_body,
    reply_media,
    request_headers,
    with_route_headers,
)
from cartgroups.api.media import Media
from cartgroups.api.redaction import REDACTED, redacted_request_body
from cartgroups.asgi import Message, Receive, Scope
from cartgroups.errors import DatabaseUnavailable, Invalid
from cartgroups.offloop import off_loop
from cartgroups.service.credentials import Issued
from cartgroups.service.sandbox import (
    PREFIX,
    Fault,
    FaultRow,
    JournalRow,
    Retry,
    Sandbox,
    SeedRejected,
    WriterBusy,
    default_message,
)
from cartgroups.service.validation import ascii_whole

Answer = Callable[[Scope, Receive], Awaitable[Reply | None]]

log = logging.getLogger("cartgroups.sandbox")

JSON = (b"content-type", b"application/json; charset=utf-8")
NO_STORE = (b"cache-control", b"no-store")
SECRET_HEADERS = frozenset({"privatekey", "token", "authorization", "cookie", "proxy-authorization"})
SECRET_PARAMS = frozenset({"privatekey", "token"})
MAX_JOURNAL_BODY = 64 * 1024  # characters of a body kept in the journal
MAX_JOURNAL_LIMIT = 10_000
# While another process holds SQLite's write lock: how long a request waits (without blocking the
# event loop) to claim a fault rule's next application, and how soon the journal is tried again.
CLAIM_WAIT_SECONDS = 1.0
CLAIM_RETRY_SECONDS = 0.002
# A request's journal entry is written before its reply, as long as the lock is free within
# JOURNAL_WAIT_SECONDS (waited for without blocking the loop); else it is queued, and the queue
# is tried again after JOURNAL_RETRY_SECONDS, doubling up to JOURNAL_RETRY_MAX_SECONDS, while
# the lock stays taken (the requests meanwhile do not wait: their entries queue behind).
JOURNAL_WAIT_SECONDS = 0.1
JOURNAL_RETRY_SECONDS = 0.002
JOURNAL_RETRY_MAX_SECONDS = 0.1
JOURNAL_OUTAGE_RETRY_SECONDS = 1.0  # the database took no writes
ACTIONS: dict[str, tuple[str, ...]] = {
    "reset": ("POST",),
    "seed": ("POST",),
    "export": ("GET",),
    "journal": ("GET", "DELETE"),
    "throttle": ("GET", "PUT"),
}


def fault_json(row: FaultRow) -> dict[str, object]:
    """A rule as the control API shows it (``message`` is what a request will get)."""
    message = row.message
    if message is None and row.status is not None:
        message = default_message(row.status)
    return {
        "id": row.id,
        "method": row.method,
        "path": row.path,
        "match": "regex" if row.regex else "glob",
        "store": row.secure_url,
        "status": row.status,
        "message": message,
        "retry_after": row.retry_after,
        "latency_ms": row.latency_ms,
        "probability": row.probability,
        "times_left": row.remaining,
        "applied": row.applied,
    }


def journal_json(row: JournalRow) -> dict[str, object]:
    at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
    return {
        "id": row.id,
        "time": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": row.method,
        "path": row.path,
        "query": row.query,
        "status": row.status,
        "duration_ms": round(row.duration_ms, 3),
        "fault_id": row.fault_id,
        "request_headers": orjson.loads(row.request_headers),
        "request_body": row.request_body,
        "response_body": row.response_body,
    }


def issued_json(issued: Issued) -> dict[str, object]:
    return {
        "SecureURL": issued.secure_url,
        "PrivateKey": issued.private_key,
        "Token": issued.token,
        "Application": issued.application,
        "Scope": ",".join(
            name for name, ok in (("read", issued.can_read), ("write", issued.can_write)) if ok
        ),
    }


def redacted_headers(scope: Scope) -> dict[str, str]:
    """Request headers for the journal: every name kept, the value of a secret replaced."""
    shown: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        shown[name] = REDACTED if name in SECRET_HEADERS else raw_value.decode("latin-1")
    return shown


def redacted_query(raw: bytes) -> str:
    text = raw.decode("latin-1")
    if not text:
        return ""
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMS for name, _ in pairs):
        return text
    return urlencode([(n, REDACTED if n.lower() in SECRET_PARAMS else v) for n, v in pairs])


def _storable(text: str) -> str:
    """Journal text as both databases store it: PostgreSQL takes no NUL in text (a NUL in a
    request's path or body lost its entry there); it becomes U+FFFD on both."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _body_text(body: bytes, content_type: str | None = None, *, request: bool = False) -> str:
    text = _storable(
        redacted_request_body(body, content_type) if request else body.decode("utf-8", "replace")
    )
    if len(text) > MAX_JOURNAL_BODY:
        return text[:MAX_JOURNAL_BODY] + f"...[{len(text) - MAX_JOURNAL_BODY} more characters]"
    return text


def _json_reply(status: int, obj: object) -> Reply:
    return Reply(status, orjson.dumps(obj), [JSON, NO_STORE])


def _error_reply(exc: BaseException) -> Reply:
    if isinstance(exc, SeedRejected):
        records = [wire.record("Error", str(where), 400, message) for where, message in exc.problems]
        return Reply(400, wire.records_body(records), [JSON, NO_STORE])
    status, body, extra = errors.render(exc)
    return Reply(status, body, [JSON, NO_STORE, *extra])


class SandboxLayer:
    """Wraps the app's answer to each request while the sandbox is on.

    ``sleep`` waits out injected latency without blocking the event loop (replaceable in
    tests); ``clock`` times each request for the journal."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        max_body_bytes: int,
        body_timeout_seconds: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.sandbox = sandbox
        self.max_body_bytes = max_body_bytes
        self.body_deadlines = Deadlines(body_timeout_seconds)
        self.sleep = sleep
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        self._retry_seconds = JOURNAL_RETRY_SECONDS
        self._flush_tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak refs

    async def handle(self, scope: Scope, receive: Receive, answer: Answer) -> Reply | None:
        path: str = scope["path"]
        if path.startswith(PREFIX) or path == PREFIX.rstrip("/"):
            try:
                return await self._control(scope, receive)
            except ConnectionAbortedError:
                return None
            except Exception as exc:
                return _error_reply(exc)
        if routes.match(path) is None:
            return await answer(scope, receive)
        return await self._api(scope, receive, answer)

    # Around a 3dcart request ---------------------------------------------------------------

    async def _api(self, scope: Scope, receive: Receive, answer: Answer) -> Reply | None:
        started = self.clock()
        method: str = scope["method"]
        headers = request_headers(scope)
        secure_url = headers.get("secureurl")
        chunks: list[bytes] = []

        async def recorded() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        try:
            fault = await self._fault_for(method, scope["path"], secure_url)
        except Exception as exc:
            return error_reply(exc, headers)  # a 3dcart route's error, as the app writes them
        if fault is not None and fault.latency_ms:
            await self.sleep(fault.latency_ms / 1000)
        if fault is not None and fault.status is not None:
            reply: Reply | None = self._fault_reply(fault, reply_media(headers))
            await self._drain(recorded)
        else:
            reply = await answer(scope, recorded)
        if reply is None:
            return None
        entry = {
            "at": datetime.now(UTC),
            "method": method,
            "path": _storable(scope["path"]),
            "query": redacted_query(scope.get("query_string", b"")),
            "status": reply.status,
            "request_headers": orjson.dumps(redacted_headers(scope)).decode(),
            "request_body": _body_text(b"".join(chunks), headers.get("content-type"), request=True),
            "response_body": _body_text(reply.body),
            "duration_ms": (self.clock() - started) * 1000,
            "fault_id": fault.id if fault is not None else None,
        }
        # Written before the reply (a client that reads the journal next finds it), unless the
        # database is busy for long or takes no writes: then queued, and written later.
        self.sandbox.record(secure_url, entry)
        await self._write_journal()
        return reply

    async def _fault_for(self, method: str, path: str, secure_url: str | None) -> Fault | None:
        """The first matching rule that fires for this request. Claiming it is a write: while
        another process holds SQLite's write lock the request waits for it without blocking the
        loop, up to CLAIM_WAIT_SECONDS; if the claim cannot be made (that long, or the database
        takes no writes), a rule limited to N requests does not fire (it never fires more than
        N times) and an unlimited rule fires uncounted."""
        loop = asyncio.get_running_loop()
        for rule in await off_loop(self.sandbox.faults_matching, method, path, secure_url):
            deadline = loop.time() + CLAIM_WAIT_SECONDS
            while True:
                try:  # each attempt off the loop; the waits between them on it
                    fault = await off_loop(self.sandbox.claim, rule)
                except (WriterBusy, Retry):
                    if loop.time() < deadline:
                        await asyncio.sleep(CLAIM_RETRY_SECONDS)
                        continue
                    fault = self._unclaimed(rule, "the database's write lock stayed taken")
                except DatabaseUnavailable as exc:
                    fault = self._unclaimed(rule, exc.message)
                break
            if fault is not None:
                return fault
        return None

    def _unclaimed(self, rule: FaultRow, why: str) -> Fault | None:
        if rule.remaining is None:
            log.warning("fault rule %d fired without being counted: %s", rule.id, why)
            return self.sandbox.fault_of(rule)
        log.warning("fault rule %d skipped (its count could not be claimed): %s", rule.id, why)
        return None

    async def _write_journal(self) -> None:
        """Write the queued journal entries, waiting up to JOURNAL_WAIT_SECONDS (without blocking
        the loop) for SQLite's write lock; unless a retry is due already (the lock has been taken
        for a while): then the entry waits in the queue for it."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run several in turn): what was due is gone
            self._loop, self._flush_scheduled = loop, False
        deadline = loop.time() + JOURNAL_WAIT_SECONDS
        while not self._flush_scheduled:
            outcome = await self._flush_now()
            if outcome == "done":
                self._retry_seconds = JOURNAL_RETRY_SECONDS
                return
            if outcome == "unavailable":
                self._schedule_flush(JOURNAL_OUTAGE_RETRY_SECONDS)
                return
            if loop.time() >= deadline:
                self._schedule_flush(self._retry_seconds)
                return
            await asyncio.sleep(JOURNAL_RETRY_SECONDS)

    async def _flush_now(self) -> str:
        """One attempt at writing the queue, off the loop (flush_journal never waits for a lock,
        but on PostgreSQL it is a round trip, or seconds while the database does not answer)."""
        try:
            return await off_loop(self.sandbox.flush_journal)
        except Exception:  # a bug: keep the server answering (the entries stay queued)
            log.exception("journal: flush failed")
            return "unavailable"

    def _schedule_flush(self, delay: float) -> None:
        self._flush_scheduled = True
        asyncio.get_running_loop().call_later(delay, self._start_scheduled_flush)

    def _start_scheduled_flush(self) -> None:
        """The timer's callback: the retry awaits the database off the loop, so it is a task."""
        task = asyncio.get_running_loop().create_task(self._scheduled_flush())
        self._flush_tasks.add(task)
        task.add_done_callback(self._flush_tasks.discard)

    async def _scheduled_flush(self) -> None:
        """A retry of the queue: never waits; while busy, tried again later and later."""
        outcome = await self._flush_now()
        if outcome == "done":
            self._flush_scheduled, self._retry_seconds = False, JOURNAL_RETRY_SECONDS
        elif outcome == "busy":
            self._retry_seconds = min(self._retry_seconds * 2, JOURNAL_RETRY_MAX_SECONDS)
            self._schedule_flush(self._retry_seconds)
        else:
            self._schedule_flush(JOURNAL_OUTAGE_RETRY_SECONDS)

    @staticmethod
    def _fault_reply(fault: Fault, media: Media) -> Reply:
        """An injected error, written like the live service's errors: in the media type the
        request's Accept header chose (the control endpoints under /_cartgroups/ are JSON)."""
        assert fault.status is not None
        headers = [] if fault.retry_after is None else [(b"retry-after", str(fault.retry_after).encode())]
        body = errors.error_body(fault.status, fault.message, "", media)
        return with_route_headers(Reply(fault.status, body, headers, media))

    async def _drain(self, receive: Receive) -> None:
        """Read (up to the size limit) the body of a request a fault answered, for the journal."""
        size = 0
        while size <= self.max_body_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    # Control endpoints ---------------------------------------------------------------------

    async def _control(self, scope: Scope, receive: Receive) -> Reply:
        headers = request_headers(scope)
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        self.sandbox.check_token(presented.strip() if scheme.lower() == "bearer" else None)
        method: str = scope["method"]
        path: str = scope["path"]
        rest = path[len(PREFIX) :].strip("/")
        parts = rest.split("/") if rest else []
        query = {k.lower(): v for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))}

        async def body() -> object:
            raw = await read_body(receive, headers, self.max_body_bytes, self.body_deadlines)
            return wire.decode_json(raw) if raw.strip() else None

        sb = self.sandbox
        if parts == ["reset"]:
            _allow(method, "POST")
            return _json_reply(200, {"reset": "all", "stores": await off_loop(sb.reset_all)})
        if parts == ["stores"]:
            _allow(method, "GET", "POST")
            if method == "GET":
                return _json_reply(200, await off_loop(sb.stores))
            return _json_reply(201, issued_json(await off_loop(sb.create_store, await body())))
        if len(parts) >= 3 and parts[0] == "stores" and parts[-1] in ACTIONS:
            store, action = "/".join(parts[1:-1]), parts[-1]
            _allow(method, *ACTIONS[action])
            return await self._store_action(store, action, method, query, body)
        if parts == ["faults"]:
            _allow(method, "GET", "POST", "DELETE")
            if method == "GET":
                return _json_reply(200, [fault_json(row) for row in await off_loop(sb.faults)])
            if method == "POST":
                return _json_reply(201, fault_json(await off_loop(sb.add_fault, await body())))
            return _json_reply(200, {"deleted": await off_loop(sb.clear_faults)})
        if len(parts) == 2 and parts[0] == "faults":
            _allow(method, "GET", "DELETE")
            fault_id = _fault_id(parts[1])
            if method == "GET":
                return _json_reply(200, fault_json(await off_loop(sb.fault, fault_id)))
            await off_loop(sb.delete_fault, fault_id)
            return _json_reply(200, {"deleted": 1})
        raise errors.RouteNotFound(path)

    async def _store_action(
        self,
        store: str,
        action: str,
        method: str,
        query: dict[str, str],
        body: Callable[[], Awaitable[object]],
    ) -> Reply:
        sb = self.sandbox
        if action == "reset":
            await off_loop(sb.reset_store, store)
            return _json_reply(200, {"reset": sb.canonical(store)})
        if action == "seed":
            given = await body()
            seeded = await off_loop(sb.seed_store, store, given)
            if isinstance(given, dict):  # a seed with customers (docs/sandbox.md, "Seed")
                return _json_reply(201, {"ids": seeded.groups, "customer_ids": seeded.customers})
            return _json_reply(201, {"ids": seeded.groups})
        if action == "export":
            include = query.get("include", "")
            if include.strip().lower() == "customers":
                groups, customers = await off_loop(sb.export_store, store)
                content = b"".join(
                    (
                        b'{"groups":',
                        wire.groups_body(groups),
                        b',"customers":',
                        wire.customers_body(customers),
                        b"}",
                    )
                )
                return Reply(200, content, [JSON, NO_STORE])
            if include:
                raise Invalid(f"include must be customers (got {include[:100]!r})", value=include[:100])
            return Reply(200, wire.groups_body(await off_loop(sb.export, store)), [JSON, NO_STORE])
        if action == "journal":
            if method == "DELETE":
                return _json_reply(200, {"deleted": await off_loop(sb.clear_journal, store)})
            limit = _limit(query.get("limit"))
            rows = await off_loop(sb.journal, store, limit)
            return _json_reply(200, [journal_json(row) for row in rows])
        if method == "GET":
            name = sb.canonical(store)
            return _json_reply(200, {"store": name, "throttle": await off_loop(sb.throttle, store)})
        value = await off_loop(sb.set_throttle, store, await body())
        return _json_reply(200, {"store": sb.canonical(store), "throttle": value})


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise errors.MethodNotAllowed(method, allowed)


def _fault_id(raw: str) -> int:
    fault_id = ascii_whole(raw, 9)
    if fault_id is None:
        raise Invalid(f"A fault rule id is a whole number (got {raw!r})", value=raw)
    return fault_id


def _limit(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    limit = ascii_whole(raw, len(str(MAX_JOURNAL_LIMIT)))
    if limit is None or not 1 <= limit <= MAX_JOURNAL_LIMIT:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_JOURNAL_LIMIT}", value=raw)
    return limit
