"""The console behind a reverse proxy (issue #19, item 3), on a real server in this process with
real forwarded headers, on both databases.

With proxy headers on, a request that a trusted proxy (a peer in forwarded_allow_ips) says came
over https gets Secure cookies, and the sign-in brake counts failures against the client
address the proxy reports, so one client cannot lock out every operator behind the proxy. From
any other peer the forwarded headers are ignored. Off (the default), they are always ignored."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cartgroups.admin.web import CSRF_FAILED, PROXY_HINT
from cartgroups.config import Settings
from cartgroups.http_limits import LimitedHttpToolsProtocol
from cartgroups.service.operators import FREE_FAILURES, Attempt, Operators
from cartgroups.testing.server import stop_in_thread
from tests.admin.forwarded import PROXY, STRANGER, Peer
from tests.admin.support import make_operator, text_of
from tests.conftest import LiveServer, start_server

HTTPS = {"x-forwarded-proto": "https"}
LOCKED = "Too many failed sign-ins. Try again in"
WRONG = "not the password"

Serve = Callable[..., LiveServer]


@pytest.fixture
def serve(empty_database_url: str) -> Iterator[Serve]:
    """serve(**settings): a live server on the (emptied) test database with these settings."""
    running: list[tuple[LiveServer, threading.Thread]] = []

    def _serve(**settings: object) -> LiveServer:
        live, thread = start_server(Settings(database_url=empty_database_url, **settings))  # type: ignore[arg-type]
        if not running:
            make_operator(live.db)
        running.append((live, thread))
        return live

    yield _serve
    for live, thread in running:
        stop_in_thread(live.server, thread)


def peer(live: LiveServer, source: str, **headers: str) -> Peer:
    return Peer(live.base_url, source, headers)


def test_uvicorn_wraps_the_app_in_its_proxy_middleware_with_the_limited_protocol(serve: Serve) -> None:
    on = serve(proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    assert isinstance(on.server.config.loaded_app, ProxyHeadersMiddleware)
    assert on.server.config.http_protocol_class.func is LimitedHttpToolsProtocol  # type: ignore[attr-defined]
    off = serve()
    assert not isinstance(off.server.config.loaded_app, ProxyHeadersMiddleware)


def test_the_cookies_are_secure_when_a_trusted_proxy_says_https(serve: Serve) -> None:
    live = serve(proxy_headers=True, forwarded_allow_ips=PROXY)
    # What a browser sends through a TLS proxy: its Origin is the https site.
    origin = {"origin": f"https://{live.base_url.removeprefix('http://')}"}
    browser = peer(live, PROXY, **HTTPS, **origin, **{"x-forwarded-for": "198.51.100.7"})
    signed_in = browser.sign_in()
    assert signed_in.status_code == 303, signed_in.text  # the https Origin matches
    session = browser.cookies["cartgroups_admin"]
    assert session["secure"] is True and session["httponly"] is True and session["path"] == "/admin"
    assert browser.request("GET", "/admin/stores").status_code == 200  # the session works
    # The sign-in page's own CSRF cookie, too.
    form = peer(live, PROXY, **HTTPS).request("GET", "/admin/sign-in")
    assert form.headers["set-cookie"].count("Secure") == 1
    # Plain http through the same proxy: not Secure.
    plain = peer(live, PROXY, **{"x-forwarded-proto": "http"})
    assert plain.sign_in().status_code == 303
    assert plain.cookies["cartgroups_admin"]["secure"] == ""


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({}, id="proxy-headers-off"),
        pytest.param({"proxy_headers": True, "forwarded_allow_ips": PROXY}, id="untrusted-peer"),
    ],
)
def test_a_forged_x_forwarded_proto_makes_nothing_secure(serve: Serve, settings: dict[str, object]) -> None:
    live = serve(**settings)
    source = STRANGER if settings else PROXY  # off: not even the local peer is believed
    forger = peer(live, source, **HTTPS)
    assert forger.sign_in().status_code == 303
    assert forger.cookies["cartgroups_admin"]["secure"] == ""
    # A browser's https Origin does not match what really arrived over http.
    origin = {"origin": f"https://{live.base_url.removeprefix('http://')}"}
    refused = peer(live, source, **HTTPS, **origin).sign_in()
    assert refused.status_code == 403, refused.text
    # It says so, and what to do if a TLS proxy is in front.
    assert f"{CSRF_FAILED} {PROXY_HINT}" in text_of(refused.text)


def test_the_brake_counts_the_client_the_trusted_proxy_reports(serve: Serve) -> None:
    live = serve(proxy_headers=True, forwarded_allow_ips=PROXY)
    attacker, colleague = "203.0.113.66", "198.51.100.7"
    operators = Operators(live.db)
    # The attacker's address has used all but one of its free failures (as if sent through the
    # proxy before: each counted the same way, without the cost of a password check).
    for number in range(FREE_FAILURES["ip"] - 1):
        attempt = operators.attempt(username=f"guess{number}", address=attacker)
        assert isinstance(attempt, Attempt)
        operators.finish(attempt, ok=False)
    # The attacker's own X-Forwarded-For, to which the proxy appends the address it saw.
    through_proxy = peer(live, PROXY, **{"x-forwarded-for": f"10.1.1.1, {attacker}"})
    # The last free failure, then the one that locks.
    statuses = [through_proxy.sign_in(username, WRONG).status_code for username in ("admin", "root")]
    assert statuses == [401, 429]
    locked = through_proxy.sign_in()  # even with the right password
    assert locked.status_code == 429 and LOCKED in locked.text
    row = operators.failures(subject=f"ip:{attacker}")
    assert row is not None and row.failures == FREE_FAILURES["ip"] + 1
    assert operators.failures(subject=f"ip:{PROXY}") is None  # the proxy itself was never counted
    # Everyone else behind the same proxy signs in as usual.
    signed_in = peer(live, PROXY, **{"x-forwarded-for": colleague}).sign_in()
    assert signed_in.status_code == 303, signed_in.text


def test_an_untrusted_peer_is_counted_under_its_own_address(serve: Serve) -> None:
    live = serve(proxy_headers=True, forwarded_allow_ips=PROXY)
    forged = "192.0.2.200"
    stranger = peer(live, STRANGER, **{"x-forwarded-for": forged})
    assert stranger.sign_in("admin", WRONG).status_code == 401
    operators = Operators(live.db)
    row = operators.failures(subject=f"ip:{STRANGER}")
    assert row is not None and row.failures == 1
    assert operators.failures(subject=f"ip:{forged}") is None


def test_the_api_answers_the_same_bytes_with_forwarded_headers(serve: Serve) -> None:
    on, off = serve(proxy_headers=True, forwarded_allow_ips=PROXY), serve()
    request = (
        b"GET /3dCartWebAPI/v1/CustomerGroups HTTP/1.1\r\nHost: x\r\nX-Request-ID: same\r\n"
        b"Connection: close\r\n"
    )
    forwarding = b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
    answers = {
        _raw(off, PROXY, request + b"\r\n"),
        _raw(on, PROXY, request + b"\r\n"),
        _raw(on, PROXY, request + forwarding + b"\r\n"),
        _raw(on, STRANGER, request + forwarding + b"\r\n"),
    }
    assert len(answers) == 1
    assert answers.pop().startswith(b"HTTP/1.1 401 ")


def _raw(live: LiveServer, source: str, request: bytes) -> bytes:
    """The whole response, its Date header left out (it changes by the second)."""
    port = int(live.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"\r\n".join(
        line for line in b"".join(chunks).split(b"\r\n") if not line.lower().startswith(b"date:")
    )
