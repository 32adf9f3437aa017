"""Retries, timeouts and error mapping, with scripted answers from an httpx.MockTransport."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from cartgroups.client import (
    AsyncClient,
    CartgroupsAPIError,
    CartgroupsConnectionError,
    CartgroupsTimeout,
    Client,
    RateLimited,
    ServerError,
)
from cartgroups.client._core import parse_retry_after

KEY = "pk-secret-0123456789"
TOKEN = "tok-secret-9876543210"
GROUP = (
    b'[{"CustomerGroupID":1,"Name":"a","Description":"","MinimumOrder":34158822.957761675,"NonTaxable":false,'
    b'"AllowRegistration":false,"DisableRewardPoints":false,"AutoApprove":false,"RegistrationMessage":"",'
    b'"PriceLevel":1}]'
)
CREATED = b'[{"Key":"CustomerGroupID","Value":"7","Status":"201","Message":"Created successfully"}]'

Answer = httpx.Response | Exception


def error(status: int, message: str) -> bytes:
    return f'[{{"Key":"Error","Value":"","Status":"{status}","Message":"{message}"}}]'.encode()


class Script:
    """Answers requests in order, remembering each request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **options: Any) -> Client:
        options = {"backoff": 0.001, **options}
        transport = httpx.MockTransport(self)
        return Client(
            "http://cartgroups.test", "shop.example.com", KEY, TOKEN, transport=transport, **options
        )


def test_429_with_retry_after_zero_is_retried_then_succeeds() -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "0"}, content=error(429, "Too many requests")),
        httpx.Response(200, content=GROUP),
    )
    with script.client() as client:
        assert client.get(1).minimum_order == Decimal("34158822.957761675")
    assert len(script.requests) == 2


def test_retries_are_bounded_and_the_last_error_is_typed() -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "0"}, content=error(429, "Slow down")) for _ in range(3)
    ]
    script = Script(*answers)
    with script.client(retries=2) as client, pytest.raises(RateLimited) as info:
        client.list()
    assert len(script.requests) == 3  # the first try and two retries
    assert (info.value.status, info.value.message, info.value.retry_after) == (429, "Slow down", 0.0)


def test_a_long_retry_after_is_not_waited_for() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}, content=error(429, "Later")))
    with script.client() as client, pytest.raises(RateLimited) as info:
        client.count()
    assert info.value.retry_after == 3600.0
    assert len(script.requests) == 1


def test_server_errors_are_retried_for_get_put_and_delete() -> None:
    script = Script(
        httpx.Response(500, content=error(500, "boom")),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, content=b'{"TotalCount":3}'),
    )
    with script.client() as client:
        assert client.count() == 3
    failing = Script(*[httpx.Response(500, content=error(500, "boom")) for _ in range(4)])
    with failing.client() as client, pytest.raises(ServerError) as info:
        client.delete(1)
    assert (info.value.status, info.value.message) == (500, "boom")
    assert len(failing.requests) == 4


def test_a_create_is_not_repeated_after_a_500_but_is_after_503() -> None:
    script = Script(httpx.Response(500, content=error(500, "An internal error occurred; it has been logged")))
    with script.client() as client, pytest.raises(ServerError):
        client.create(name="once")
    assert len(script.requests) == 1

    script = Script(
        httpx.Response(503, headers={"Retry-After": "0"}, content=error(503, "Database unavailable")),
        httpx.Response(201, content=CREATED),
    )
    with script.client() as client:
        assert client.create(name="once") == 7
    assert len(script.requests) == 2


def test_connection_errors_are_retried_only_when_safe() -> None:
    script = Script(httpx.ReadError("reset"), httpx.Response(200, content=b'{"TotalCount":1}'))
    with script.client() as client:
        assert client.count() == 1  # GET: idempotent, retried
    script = Script(httpx.ReadError("reset"), httpx.Response(201, content=CREATED))
    with script.client() as client, pytest.raises(CartgroupsConnectionError) as info:
        client.create(name="x")  # POST: the server may have created it
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert len(script.requests) == 1
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, content=CREATED))
    with script.client() as client:
        assert client.create(name="x") == 7  # never connected: safe to send again
    assert len(script.requests) == 2


def test_timeouts_are_configured_and_raised_as_timeouts() -> None:
    script = Script(*[httpx.ReadTimeout("slow") for _ in range(2)])
    with script.client(retries=1, timeout=1.5) as client:
        assert client._http.timeout == httpx.Timeout(1.5)
        with pytest.raises(CartgroupsTimeout):
            client.get(1)
    assert len(script.requests) == 2
    custom = httpx.Timeout(5.0, connect=1.0)
    with Client("http://x.test", "s", "k", "t", timeout=custom) as client:
        assert client._http.timeout == custom


def test_a_real_read_timeout_against_a_silent_server() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts connections, never answers
    port = listener.getsockname()[1]
    try:
        client = Client(f"http://127.0.0.1:{port}", "s", "k", "t", timeout=0.2, retries=0)
        with client, pytest.raises(CartgroupsTimeout):
            client.count()
    finally:
        listener.close()


def test_a_non_json_error_still_raises_a_typed_error() -> None:
    script = Script(httpx.Response(418, text="I'm a teapot"))
    with script.client() as client, pytest.raises(CartgroupsAPIError) as info:
        client.list()
    assert info.value.status == 418
    assert "teapot" in info.value.message


def test_requests_carry_the_3dcart_headers_and_exact_decimals() -> None:
    script = Script(httpx.Response(201, content=CREATED), httpx.Response(200, content=b"[]"))
    with script.client() as client:
        client.create(name="x", minimum_order=Decimal("34158822.957761675"))
        client.update(3, minimum_order=Decimal("1.50"), non_taxable=True)
    create, update = script.requests
    assert create.method == "POST"
    assert create.url.path == "/3dCartWebAPI/v1/CustomerGroups"
    assert create.content == b'{"Name":"x","MinimumOrder":34158822.957761675}'
    assert create.headers["SecureURL"] == "shop.example.com"
    assert create.headers["PrivateKey"] == KEY
    assert create.headers["Token"] == TOKEN
    assert create.headers["Content-Type"] == "application/json"
    assert (update.method, update.url.path) == ("PUT", "/3dCartWebAPI/v1/CustomerGroups/3")
    assert update.content == b'{"MinimumOrder":1.50,"NonTaxable":true}'


def test_secrets_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(
        httpx.Response(429, headers={"Retry-After": "0"}, content=error(429, "x")),
        httpx.Response(200, content=GROUP),
    )
    with script.client() as client:
        client.get(1)
        assert KEY not in repr(client) and TOKEN not in repr(client)
    assert "GET /CustomerGroups/1 -> 429" in caplog.text
    assert KEY not in caplog.text
    assert TOKEN not in caplog.text


def test_the_async_client_retries_the_same_way() -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "0"}, content=error(429, "Too many requests")),
        httpx.Response(503, content=error(503, "Database unavailable")),
        httpx.Response(200, content=GROUP),
    )

    async def scenario() -> Decimal:
        transport = httpx.MockTransport(script)
        async with AsyncClient(
            "http://x.test", "s", KEY, TOKEN, transport=transport, backoff=0.001
        ) as client:
            return (await client.get(1)).minimum_order

    assert asyncio.run(scenario()) == Decimal("34158822.957761675")
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("0", 0.0), ("2", 2.0), ("1.5", 1.5), ("-3", 0.0), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0


def test_missing_credentials_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="required"):
        Client("http://x.test", "shop.example.com", "", "t")
