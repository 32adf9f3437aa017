"""A small client for the sandbox controls of a server started with ``cartgroups serve --sandbox``.

    from cartgroups.client.sandbox import SandboxClient
    with SandboxClient("http://127.0.0.1:8000", token) as sandbox:
        sandbox.add_fault(status=503, method="GET", path="*/CustomerGroups*", times=1)
        ...
        print(sandbox.journal("shop.example.com", limit=5))

Errors are the SDK's typed exceptions (``Unauthorized`` for a wrong token, ``NotFound`` for an
unknown store or rule, ``BadRequest`` with the server's message for bad input). The token is
sent as ``Authorization: Bearer`` and never logged or shown in an exception. Nothing is retried:
these are one-off admin calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cartgroups.client._core import _records, api_error, dumps, loads, timeout_of
from cartgroups.client.errors import (
    CartgroupsAPIError,
    CartgroupsConnectionError,
    CartgroupsTimeout,
    error_for,
)

PREFIX = "/_cartgroups"


def _error(response: httpx.Response) -> CartgroupsAPIError:
    """The typed error; a seed's several records (one per bad group) become one message."""
    records = _records(response) or []
    if len(records) < 2:
        return api_error(response)
    message = "; ".join(f"{_place(str(r.get('Value', '')))}: {r.get('Message', '')}" for r in records)
    return error_for(response.status_code, message)


def _place(value: str) -> str:
    """A group's position is a number; a customer's comes as ``customers[i]``."""
    return value if value.startswith("customers[") else f"groups[{value}]"


def _store_path(store: str, action: str) -> str:
    return f"/stores/{quote(store, safe='/')}/{action}"


class SandboxClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout | None = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_of(timeout),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"SandboxClient(base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: object = None, params: dict[str, Any] | None = None) -> Any:
        content = dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = self._http.request(method, path, content=content, headers=headers, params=params)
        except httpx.TimeoutException as exc:
            raise CartgroupsTimeout(f"{method} {PREFIX}{path}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise CartgroupsConnectionError(f"{method} {PREFIX}{path}: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise _error(response)
        try:
            return loads(response.content)
        except ValueError:
            raise CartgroupsAPIError(response.status_code, "unexpected response: not JSON") from None

    # Stores and state ------------------------------------------------------------------------

    def stores(self) -> list[dict[str, Any]]:
        """Every store: SecureURL, number of groups, throttling override."""
        result: list[dict[str, Any]] = self._call("GET", "/stores")
        return result

    def create_store(
        self, secure_url: str, *, application: str | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        """Credentials for the store (created when new): SecureURL, PrivateKey, Token."""
        body = {"SecureURL": secure_url, "Application": application, "Scope": scope}
        result: dict[str, Any] = self._call("POST", "/stores", {k: v for k, v in body.items() if v})
        return result

    def reset(self, store: str | None = None) -> dict[str, Any]:
        """Reset one store, or (without ``store``) every store and every fault rule."""
        path = "/reset" if store is None else _store_path(store, "reset")
        result: dict[str, Any] = self._call("POST", path)
        return result

    def seed(self, store: str, groups: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create the groups (all or none) and return their ids."""
        result: dict[str, Any] = self._call("POST", _store_path(store, "seed"), list(groups))
        return [int(i) for i in result["ids"]]

    def seed_store(
        self,
        store: str,
        groups: Sequence[Mapping[str, Any]] = (),
        customers: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, list[int]]:
        """Create groups and customers (all or none): ``{"ids": [...], "customer_ids": [...]}``.
        A customer's CustomerGroupID may name a seeded group by the CustomerGroupID that group
        carries in ``groups`` (docs/sandbox.md, "Seed")."""
        body = {"groups": list(groups), "customers": list(customers)}
        result: dict[str, Any] = self._call("POST", _store_path(store, "seed"), body)
        return {
            "ids": [int(i) for i in result["ids"]],
            "customer_ids": [int(i) for i in result["customer_ids"]],
        }

    def export(self, store: str) -> list[dict[str, Any]]:
        """The store's groups in 3dcart's wire format (money as Decimal)."""
        result: list[dict[str, Any]] = self._call("GET", _store_path(store, "export"))
        return result

    def export_store(self, store: str) -> dict[str, list[dict[str, Any]]]:
        """The store's groups and customers: ``{"groups": [...], "customers": [...]}``, each as
        3dcart's GET writes them (Password ""); ``seed_store(**...)`` takes it back."""
        params = {"include": "customers"}
        result: dict[str, list[dict[str, Any]]] = self._call(
            "GET", _store_path(store, "export"), params=params
        )
        return result

    # Journal and throttling ------------------------------------------------------------------

    def journal(self, store: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The store's last requests, newest first."""
        params = {"limit": limit} if limit is not None else None
        result: list[dict[str, Any]] = self._call("GET", _store_path(store, "journal"), params=params)
        return result

    def clear_journal(self, store: str) -> int:
        return int(self._call("DELETE", _store_path(store, "journal"))["deleted"])

    def throttle(self, store: str) -> bool | None:
        value = self._call("GET", _store_path(store, "throttle"))["throttle"]
        return None if value is None else bool(value)

    def set_throttle(self, store: str, enabled: bool | None) -> bool | None:
        value = self._call("PUT", _store_path(store, "throttle"), {"throttle": enabled})["throttle"]
        return None if value is None else bool(value)

    # Fault rules -----------------------------------------------------------------------------

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a rule: method, path, match, store, status, message, retry_after, latency_ms,
        probability, times (see docs/sandbox.md). Returns it with its id."""
        result: dict[str, Any] = self._call("POST", "/faults", rule)
        return result

    def delete_fault(self, fault_id: int) -> None:
        self._call("DELETE", f"/faults/{int(fault_id)}")

    def clear_faults(self) -> int:
        return int(self._call("DELETE", "/faults")["deleted"])
