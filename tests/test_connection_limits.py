"""Issue #15, item 7: slow and idle connections cannot exhaust a server (cartgroups.http_limits).

Idle and slowloris connections are closed once the head deadline passes; a head over the cap is
refused with 431 without being buffered; past the connection cap new connections get 503 and
one warning is logged; real clients keep their keep-alive connections and are served meanwhile.
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import logging
import pickle
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from cartgroups import testing
from cartgroups.config import Settings
from cartgroups.http_limits import TOO_MANY_CONNECTIONS, ConnectionLimits, connection_limits, protocol_factory
from cartgroups.testing.server import stop_in_thread
from tests.api.test_hostile import _read_response
from tests.cli.procs import serving
from tests.conftest import LiveServer, error_body, start_server

HEAD_TIMEOUT = 1.0
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BUSY = error_body(503, TOO_MANY_CONNECTIONS)


def head_too_large(limit: int) -> bytes:
    return error_body(431, f"The request line and headers are larger than the limit of {limit} bytes")


@contextmanager
def limited_server(database_url: str, **settings: object) -> Iterator[LiveServer]:
    live, thread = start_server(Settings(database_url=database_url, **settings))  # type: ignore[arg-type]
    try:
        yield live
    finally:
        stop_in_thread(live.server, thread)


def connect(live: LiveServer) -> socket.socket:
    port = int(live.base_url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes ``sock`` (recv gets the end), reading what comes first."""
    started = time.monotonic()
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def response_of(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response (head, body), read up to the end of its Content-Length."""
    head, _, body = _read_response(sock).partition(b"\r\n\r\n")
    return head, body


def test_an_idle_connection_is_closed_after_the_head_deadline(database_url: str) -> None:
    with limited_server(database_url, header_timeout_seconds=HEAD_TIMEOUT) as live, connect(live) as idle:
        waited = closed_after(idle)  # before: open until the client's own timeout (15 s)
        assert HEAD_TIMEOUT * 0.8 < waited < HEAD_TIMEOUT + 5, waited


def test_a_slowloris_is_closed_and_real_clients_are_served_meanwhile(database_url: str) -> None:
    with limited_server(database_url, header_timeout_seconds=HEAD_TIMEOUT) as live:
        slow = [connect(live) for _ in range(20)]
        try:
            started = time.monotonic()
            closed: set[int] = set()
            with httpx.Client(base_url=live.base_url, timeout=15) as client:
                for line in (b"GET /healthz HTTP/1.1\r\n", *[b"X-Trickle: %d\r\n" % n for n in range(60)]):
                    for index, sock in enumerate(slow):
                        if index not in closed:
                            try:
                                sock.sendall(line)
                            except OSError:  # closed by the server
                                closed.add(index)
                    assert client.get("/healthz").status_code == 200  # served meanwhile
                    if len(closed) == len(slow) or time.monotonic() - started > HEAD_TIMEOUT + 5:
                        break
                    time.sleep(0.1)
                # The trickle's last bytes may still be sent before the server's close is seen.
                for sock in slow:
                    assert closed_after(sock) < 5
            assert time.monotonic() - started < HEAD_TIMEOUT + 6
        finally:
            for sock in slow:
                sock.close()


def test_keep_alive_still_serves_a_real_client_and_a_slow_second_head_is_closed(database_url: str) -> None:
    with (
        limited_server(database_url, header_timeout_seconds=HEAD_TIMEOUT, keep_alive_seconds=3) as live,
        connect(live) as sock,
    ):
        for _ in range(3):  # one connection, three requests, pauses shorter than keep-alive
            sock.sendall(HEALTHZ)
            head, body = response_of(sock)
            assert head.startswith(b"HTTP/1.1 200") and body == b'{"status":"ok","database":"ok"}'
            time.sleep(HEAD_TIMEOUT / 2)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # then a head that never ends: data cancels
        started = time.monotonic()  # the keep-alive timer, the head deadline still runs
        while time.monotonic() - started < 6:
            try:
                sock.sendall(b"X-Trickle: 1\r\n")
            except OSError:
                break
            time.sleep(0.2)
        assert closed_after(sock) < 5
        assert time.monotonic() - started < HEAD_TIMEOUT + 5


def test_a_pipelined_head_waits_for_the_answer_before_it_without_being_cut() -> None:
    """The deadline of a head sent behind a request still being answered starts at that answer."""
    with testing.serve(header_timeout_seconds=HEAD_TIMEOUT) as server:
        server.seed([{"Name": "listed"}])
        server.faults.add(latency_ms=int(HEAD_TIMEOUT * 2500), path="*/CustomerGroups")
        port = int(server.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            request = "".join(
                ["GET /3dCartWebAPI/v1/CustomerGroups HTTP/1.1\r\nHost: x\r\n"]
                + [f"{name}: {value}\r\n" for name, value in server.headers.items()]
                + ["\r\n"]
            ).encode()
            sock.sendall(request + b"GET /healthz HTTP/1.1\r\n")  # the second head unfinished
            assert response_of(sock)[0].startswith(b"HTTP/1.1 200")  # after 2.5 s, still open
            sock.sendall(b"Host: x\r\n\r\n")
            assert response_of(sock)[0].startswith(b"HTTP/1.1 200")


def test_a_head_over_the_cap_is_431_and_one_within_it_is_served(database_url: str) -> None:
    limit = 16 * 1024
    with limited_server(database_url, max_header_bytes=limit) as live:
        with connect(live) as sock:  # the whole head in one piece: counted once it is parsed
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * limit + b"\r\n\r\n")
            head, body = response_of(sock)
            assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), head
            assert b"connection: close" in head and body == head_too_large(limit)
            assert closed_after(sock) < 5
        with connect(live) as sock:  # a header that never ends: refused as it grows
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Padding: ")
            for _ in range(64):
                try:
                    sock.sendall(b"a" * 1024)
                except OSError:
                    break
            assert response_of(sock)[1] == head_too_large(limit)
        with connect(live) as sock:
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * (limit - 200) + b"\r\n\r\n"
            )
            assert response_of(sock)[0].startswith(b"HTTP/1.1 200")


def test_past_the_connection_cap_new_connections_get_503_and_one_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cap = 8
    caplog.set_level(logging.WARNING, logger="cartgroups.connections")
    with (
        limited_server(database_url, max_connections=cap, header_timeout_seconds=30) as live,
        ExitStack() as stack,
    ):
        idle = [stack.enter_context(connect(live)) for _ in range(cap - 1)]
        with connect(live) as last:  # the cap'th connection is served
            last.sendall(HEALTHZ)
            assert response_of(last)[0].startswith(b"HTTP/1.1 200")
            for _ in range(5):  # past the cap
                with connect(live) as extra:
                    extra.sendall(HEALTHZ)
                    head, body = response_of(extra)
                    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), head
                    assert b"retry-after: 1" in head and b"connection: close" in head
                    assert body == BUSY
                    assert closed_after(extra) < 5
            # Over the cap, a connection that sends nothing is closed within a second.
            with connect(live) as extra:
                assert closed_after(extra) < 5
        warnings = [r.getMessage() for r in caplog.records if r.name == "cartgroups.connections"]
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"connection limit reached: {cap} connections open in this process")
        idle.pop().close()
        time.sleep(0.2)
        with connect(live) as sock:  # below the cap again
            sock.sendall(HEALTHZ)
            assert response_of(sock)[0].startswith(b"HTTP/1.1 200")


def test_the_connection_cap_leaves_room_in_the_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        limits = connection_limits(Settings(max_connections=1000))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert limits == ConnectionLimits(head_timeout=10.0, max_head_bytes=65536, max_connections=256 - 64)
    # uvicorn pickles its options to start worker processes.
    assert pickle.loads(pickle.dumps(protocol_factory(limits))).keywords["limits"] == limits  # noqa: S301


def _peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_serve_refuses_a_huge_header_without_buffering_it_and_closes_idle_connections(
    database_url: str, tmp_path: Path
) -> None:
    """`cartgroups serve` itself (one process: uvicorn serves in it): a 64 MiB header value
    grew a worker by its size, and more, before."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the HTTP limits do not depend on the database; one run is enough")
    with serving(
        "--log-level",
        "warning",
        database_url=database_url,
        cwd=tmp_path,
        CARTGROUPS_HEADER_TIMEOUT_SECONDS="2",
    ) as served:
        before = _peak_memory_kib(served.proc.pid)
        answer: list[bytes] = []
        with socket.create_connection(("127.0.0.1", served.port), timeout=20) as sock:
            reader = threading.Thread(target=lambda: answer.append(_read_until_closed(sock)), daemon=True)
            reader.start()
            chunk = b"a" * (1024 * 1024)
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
                for _ in range(64):
                    sock.sendall(chunk)
                sock.sendall(b"\r\n\r\n")
            except OSError:
                pass  # closed by the server once it answered
            reader.join(20)
        growth_mib = (_peak_memory_kib(served.proc.pid) - before) / 1024
        assert growth_mib < 16, growth_mib
        assert answer and answer[0].startswith(b"HTTP/1.1 431"), answer[:1]
        assert answer[0].endswith(head_too_large(65536))
        with socket.create_connection(("127.0.0.1", served.port), timeout=20) as idle:
            assert closed_after(idle) < 2 + 5
        assert httpx.get(served.base_url + "/healthz", timeout=10).status_code == 200
        assert "Traceback" not in served.stderr


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    return data


def test_a_head_that_shares_a_read_with_the_body_before_it_is_not_counted_with_it(database_url: str) -> None:
    """The bytes of a read that ends a request's body and begins the next head are not all the
    head's: a 200 KB body answered early (405, unread), then a head cut in two, is served."""
    body = b"a" * 200_000
    first = b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    with limited_server(database_url, max_header_bytes=65536) as live, connect(live) as sock:
        sock.sendall(first + body + HEALTHZ[:20])
        head, _ = response_of(sock)
        assert head.startswith(b"HTTP/1.1 405"), head
        time.sleep(0.3)  # the rest of the second head comes in a read of its own
        sock.sendall(HEALTHZ[20:])
        head, _ = response_of(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
