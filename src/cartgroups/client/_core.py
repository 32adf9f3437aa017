"""Everything the sync and the async client share, with no I/O of its own.

Each API operation is an ``Operation``: the request to send and the function that reads its
response. ``RetryPolicy`` decides whether and when to send a request again. ``sync.Client`` and
``asyncio.AsyncClient`` only send, sleep and loop.

Retry rules (bounded by ``retries``; the first try is not counted):

- 429 and 503 are retried for every method: the server did not process the request.
- 500, 502 and 504 are retried for GET, PUT and DELETE only. A POST that failed that way may have
  created the group, and a second POST would create a second one. (A DELETE whose answer was
  lost and that is then retried answers 404: ``NotFound`` means "it is gone" either way.)
- Connection failures: GET, PUT and DELETE are retried on any of them (connect, read or write
  error, timeout, broken response). A POST only when the connection was never made (connect
  error, connect or pool timeout), because then the server cannot have seen it.
- The wait is the server's ``Retry-After`` (seconds or an HTTP date) when given, otherwise
  ``backoff * 2**attempt`` with jitter (half of it random), at most ``MAX_BACKOFF``. A Retry-After
  longer than ``MAX_RETRY_AFTER`` is not waited for: ``RateLimited.retry_after`` tells the caller.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import httpx
import orjson

from cartgroups.client.errors import (
    BadRequest,
    CartgroupsAPIError,
    CartgroupsConnectionError,
    CartgroupsTimeout,
    error_for,
)
from cartgroups.client.models import CustomerGroup, ItemResult, PartialCustomerGroup, wire_fields, wire_name

T = TypeVar("T")
G = TypeVar("G", CustomerGroup, PartialCustomerGroup)
# select= and order_by= (OData's $select and $orderby): a comma-separated string or a sequence.
Select = str | Iterable[str]
OrderBy = str | Iterable[str]

DEFAULT_BASE_URL = "https://apirest.3dcart.com"
COLLECTION = "/CustomerGroups"
OFFSET_EXCEEDED = "Offset amount exceeds the total number of records"
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 60.0
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})
SAFE_FOR_ANY_METHOD = frozenset({429, 503})
RETRY_IF_IDEMPOTENT = frozenset({500, 502, 504})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

log = logging.getLogger("cartgroups.client")


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str] | None = None
    content: bytes | None = None


# --- configuration ---------------------------------------------------------------------------


def api_root(base_url: str, version: str) -> str:
    return f"{base_url.rstrip('/')}/3dCartWebAPI/{version}"


def auth_headers(secure_url: str | None, private_key: str | None, token: str | None) -> dict[str, str]:
    if not (secure_url and private_key and token):
        raise ValueError("secure_url, private_key and token are all required")
    return {
        "SecureURL": secure_url,
        "PrivateKey": private_key,
        "Token": token,
        "Accept": "application/json",
    }


def timeout_of(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    return timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)


# --- JSON --------------------------------------------------------------------------------------


def _decimal_fragment(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))  # the decimal's own digits, never a float
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj, default=_decimal_fragment)


def loads(content: bytes) -> Any:
    return json.loads(content, parse_float=Decimal)


# --- retries -----------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3
    backoff: float = 0.2

    def _backoff(self, attempt: int) -> float:
        delay = min(MAX_BACKOFF, self.backoff * 2.0**attempt)
        return delay / 2 + random.uniform(0, delay / 2)

    def after_response(self, method: str, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again, or None to keep this response."""
        status = response.status_code
        if attempt >= self.retries:
            return None
        if status not in SAFE_FOR_ANY_METHOD and not (status in RETRY_IF_IDEMPOTENT and method in IDEMPOTENT):
            return None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return self._backoff(attempt)
        return retry_after if retry_after <= MAX_RETRY_AFTER else None

    def after_error(self, method: str, attempt: int, exc: httpx.TransportError) -> float | None:
        """Seconds to wait before trying again after a connection failure, or None to give up."""
        if attempt >= self.retries:
            return None
        retryable = _NEVER_SENT if method not in IDEMPOTENT else _RETRYABLE_TRANSPORT
        return self._backoff(attempt) if isinstance(exc, retryable) else None


def connection_error(method: str, path: str, exc: httpx.TransportError) -> CartgroupsConnectionError:
    cls = CartgroupsTimeout if isinstance(exc, httpx.TimeoutException) else CartgroupsConnectionError
    return cls(f"{method} {path}: {type(exc).__name__}: {exc}")


def log_attempt(method: str, path: str, attempt: int, outcome: str) -> None:
    """Method, path and outcome only: headers (the credentials) and bodies are never logged."""
    log.debug("%s %s -> %s (attempt %d)", method, path, outcome, attempt + 1)


# --- reading responses -------------------------------------------------------------------------


def _records(response: httpx.Response) -> list[dict[str, Any]] | None:
    """The result/error records of a body, or None when it is not a list of records."""
    try:
        body = loads(response.content)
    except ValueError:
        return None
    if isinstance(body, dict):
        body = [body]
    if isinstance(body, list) and all(isinstance(r, dict) for r in body):
        return body
    return None


def api_error(response: httpx.Response) -> CartgroupsAPIError:
    """The typed exception for an error answer, built from its record's Message."""
    status = response.status_code
    records = _records(response) or []
    record = records[0] if records else {}
    message = record.get("Message")
    if not isinstance(message, str):
        text = response.text.strip()[:200]
        message = f"{response.reason_phrase or 'HTTP error'}{': ' + text if text else ''}"
    value = record.get("Value")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return error_for(status, message, "" if value is None else str(value), retry_after)


def _unexpected(response: httpx.Response, what: str) -> CartgroupsAPIError:
    return CartgroupsAPIError(response.status_code, f"unexpected response: {what}")


def _ok_body(response: httpx.Response) -> Any:
    if not response.is_success:
        raise api_error(response)
    try:
        return loads(response.content)
    except ValueError:
        raise _unexpected(response, "the body is not JSON") from None


def from_wire_array(
    body: Any, response: httpx.Response, from_wire: Callable[[object], T], entity: str
) -> list[T]:
    """The ``entity`` objects of a body (an array of them, or a bare object), each read by
    ``from_wire``; anything else is an unexpected response."""
    if isinstance(body, dict):  # tolerate a bare object where an array is documented
        body = [body]
    if not isinstance(body, list):
        raise _unexpected(response, f"expected an array of {entity} objects")
    try:
        return [from_wire(obj) for obj in body]
    except (TypeError, ValueError) as exc:
        raise _unexpected(response, str(exc)) from None


def _groups(body: Any, response: httpx.Response, model: type[G]) -> list[G]:
    return from_wire_array(body, response, model.from_wire, "CustomerGroup")


Read = Callable[[Any, httpx.Response], list[T]]  # the objects of a (successful) body


def one_parser(read: Read[T], not_found: str, item_id: int) -> Callable[[httpx.Response], T]:
    """The reader of a GET by id: its one object; an empty array is NotFound (``not_found``)."""

    def parse(response: httpx.Response) -> T:
        found = read(_ok_body(response), response)
        if not found:
            raise error_for(404, not_found, str(item_id))
        return found[0]

    return parse


def page_parser(read: Read[T]) -> Callable[[httpx.Response], list[T]]:
    """The reader of a page of a list: its objects; 3dcart's "no records" answer is []."""

    def parse(response: httpx.Response) -> list[T]:
        if _is_empty_answer(response):
            return []
        return read(_ok_body(response), response)

    return parse


def _done(response: httpx.Response) -> None:
    _ok_body(response)


def _result_value(response: httpx.Response) -> int:
    body = _ok_body(response)
    records = body if isinstance(body, list) else [body]
    value = records[0].get("Value") if records and isinstance(records[0], dict) else None
    try:
        return int(str(value))
    except ValueError:
        raise _unexpected(response, "no id in the result record") from None


def is_end_of_records(exc: BadRequest) -> bool:
    """The 400 that says paging went past the last record."""
    return exc.message.strip() == OFFSET_EXCEEDED


def iter_pages(fetch: Callable[[int], list[T]], page_size: int) -> Iterator[T]:
    """Every item, page by page (``fetch(offset)``, 1-based), until a short page or the
    "Offset amount exceeds" answer."""
    offset = 1
    while True:
        try:
            page = fetch(offset)
        except BadRequest as exc:
            if is_end_of_records(exc):
                return
            raise
        yield from page
        if len(page) < page_size:
            return
        offset += len(page)


async def aiter_pages(fetch: Callable[[int], Awaitable[list[T]]], page_size: int) -> AsyncIterator[T]:
    """iter_pages, awaited."""
    offset = 1
    while True:
        try:
            page = await fetch(offset)
        except BadRequest as exc:
            if is_end_of_records(exc):
                return
            raise
        for item in page:
            yield item
        if len(page) < page_size:
            return
        offset += len(page)


# --- the operations ----------------------------------------------------------------------------


def checked_id(value: int, what: str) -> int:
    """An id given to an operation: an int (not a bool), or a TypeError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a {what} id is an int, not {type(value).__name__}")
    return value


def _item_path(group_id: int) -> str:
    return f"{COLLECTION}/{checked_id(group_id, 'group')}"


def create_op(group: CustomerGroup | None, fields: Mapping[str, object]) -> Operation[int]:
    """POST: a whole group (every field written) or just the given fields (server defaults)."""
    if group is not None:
        body = {**group.to_wire(include_id=False), **wire_fields(fields, allow_id=False)}
    else:
        body = wire_fields(fields, allow_id=False)
    return Operation("POST", COLLECTION, _result_value, content=dumps(body))


def _items(value: str | Iterable[str], argument: str) -> list[str]:
    """A comma-separated string or a sequence of strings as a list of items; none, or an empty
    one, is a ValueError (the server would answer it 400)."""
    items = [str(item).strip() for item in (value.split(",") if isinstance(value, str) else value)]
    if not items or "" in items:
        raise ValueError(f"{argument}= needs one or more items, none of them empty (got {value!r})")
    return items


def _order_item(item: str) -> str:
    name, *rest = item.split()
    if len(rest) > 1 or (rest and rest[0].lower() not in ("asc", "desc")):
        raise ValueError(f"an order_by= item is 'field', 'field asc' or 'field desc' (got {item!r})")
    return " ".join([wire_name(name), *(word.lower() for word in rest)])


def odata_params(select: Select | None, order_by: OrderBy | None) -> dict[str, str]:
    """``$select`` and ``$orderby`` of a GET, with wire names (a field may be named by its
    attribute, ``minimum_order``, or its wire name in any case). Both apply to the page the
    server has already built (see docs/api.md, "OData")."""
    params = {}
    if select is not None:
        names = dict.fromkeys(wire_name(name) for name in _items(select, "select"))
        params["$select"] = ",".join(names)
    if order_by is not None:
        params["$orderby"] = ",".join(_order_item(item) for item in _items(order_by, "order_by"))
    return params


def get_op(group_id: int, order_by: OrderBy | None = None) -> Operation[CustomerGroup]:
    return _get_op(group_id, CustomerGroup, odata_params(None, order_by))


def get_selected_op(
    group_id: int, select: Select, order_by: OrderBy | None = None
) -> Operation[PartialCustomerGroup]:
    return _get_op(group_id, PartialCustomerGroup, odata_params(select, order_by))


def _get_op(group_id: int, model: type[G], params: dict[str, str]) -> Operation[G]:
    def read(body: Any, response: httpx.Response) -> list[G]:
        return _groups(body, response, model)

    parse = one_parser(read, f"CustomerGroup {group_id} not found", group_id)
    return Operation("GET", _item_path(group_id), parse, params=params or None)


def _is_empty_answer(response: httpx.Response) -> bool:
    """3dcart's way of saying "no records": a 404 with an error record (or no body). A 404 page
    that is not JSON (a wrong base URL, a proxy) is an error, not an empty store."""
    return response.status_code == 404 and (_records(response) is not None or not response.content.strip())


def list_op(limit: int, offset: int, order_by: OrderBy | None = None) -> Operation[list[CustomerGroup]]:
    return _list_op(limit, offset, CustomerGroup, odata_params(None, order_by))


def list_selected_op(
    limit: int, offset: int, select: Select, order_by: OrderBy | None = None
) -> Operation[list[PartialCustomerGroup]]:
    return _list_op(limit, offset, PartialCustomerGroup, odata_params(select, order_by))


def _list_op(limit: int, offset: int, model: type[G], odata: dict[str, str]) -> Operation[list[G]]:
    def read(body: Any, response: httpx.Response) -> list[G]:
        return _groups(body, response, model)

    params = {"limit": str(limit), "offset": str(offset), **odata}
    return Operation("GET", COLLECTION, page_parser(read), params=params)


def _count(response: httpx.Response) -> int:
    if _is_empty_answer(response):
        return 0
    body = _ok_body(response)
    total = body.get("TotalCount") if isinstance(body, dict) else None
    if isinstance(total, bool) or not isinstance(total, int):
        raise _unexpected(response, "no TotalCount")
    return total


def count_op() -> Operation[int]:
    return Operation("GET", COLLECTION, _count, params={"countonly": "1"})


def update_op(group_id: int, fields: Mapping[str, object]) -> Operation[None]:
    if not fields:
        raise ValueError("update() needs at least one field")
    content = dumps(wire_fields(fields, allow_id=False))
    return Operation("PUT", _item_path(group_id), _done, content=content)


def bulk_item(item: CustomerGroup | Mapping[str, object]) -> dict[str, Any]:
    if isinstance(item, CustomerGroup):
        return item.to_wire()
    return wire_fields(item, allow_id=True)


def bulk_update_op(items: Iterable[CustomerGroup | Mapping[str, object]]) -> Operation[list[ItemResult]]:
    body = [bulk_item(item) for item in items]
    return Operation("PUT", COLLECTION, per_item_results(len(body)), content=dumps(body))


def per_item_results(count: int) -> Callable[[httpx.Response], list[ItemResult]]:
    """The reader of a bulk update's answer of ``count`` items (groups or customers): one result
    per item, also for a 206, 404 or 400 that has per-item records."""

    def parse(response: httpx.Response) -> list[ItemResult]:
        records = _records(response)
        per_item = (
            response.status_code in (200, 206, 400, 404)
            and records is not None
            and len(records) == count
            and all(r.get("Key") != "Error" for r in records)
        )
        if not per_item:
            if not response.is_success:
                raise api_error(response)
            raise _unexpected(response, "expected one result record per item")
        assert records is not None
        try:
            return [
                ItemResult(int(r["Status"]), str(r["Value"]), str(r["Message"]), str(r["Key"]))
                for r in records
            ]
        except (KeyError, ValueError):
            raise _unexpected(response, "malformed result record") from None

    return parse


def delete_op(group_id: int) -> Operation[None]:
    return Operation("DELETE", _item_path(group_id), _done)
