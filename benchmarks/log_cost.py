"""What JSON access logs cost against the default text ones (issue #19: under 10 %).

Two ``cartgroups serve`` processes (one worker each) on the same SQLite file, one with
``--log-format text`` and one with ``--log-format json``, each writing its log to a file, answer
GET by id in alternating rounds of the same run (pipelined keep-alive requests from a small
client in this process). Per round: the server's CPU time per request (user + system, from /proc:
hardly moved by other processes taking CPU away) and requests per second. Printed: the median
and best of the rounds per format, the JSON/text ratio of the CPU medians and the median of each
round's JSON/text ratio (the two of a round run back to back); then the cost of the access line
alone, in-process (µs per line through AccessLog, both formats), the steadiest figure on a busy
machine.

    .venv/bin/python benchmarks/log_cost.py [--rounds 10] [--requests 15000] [--connections 2] [--depth 8]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import logging.config
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx
from servers import HOST, cpu_seconds, free_port

from cartgroups.logs import AccessLog, logging_config
from cartgroups.service import credentials
from cartgroups.storage import migrate
from cartgroups.storage.database import Database

FORMATS = ("text", "json")
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


def start_server(
    bin_path: str, database_url: str, log_format: str, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTGROUPS_")}
    argv = [bin_path, "serve", "--host", HOST, "--port", str(port), "--database", database_url]
    argv += ["--log-level", "info", "--log-format", log_format]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL, env=env
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {log_format} server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as reply:
                if reply.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the {log_format} server did not start: {log.read_text()[-2000:]}")


def drive(port: int, request: bytes, count: int, depth: int) -> None:
    """``count`` requests on one keep-alive connection, ``depth`` at a time; every answer 200."""
    with socket.create_connection((HOST, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer, done = b"", 0
        while done < count:
            batch = min(depth, count - done)
            sock.sendall(request * batch)
            answered = 0
            while answered < batch:
                end = buffer.find(b"\r\n\r\n")
                found = CONTENT_LENGTH.search(buffer, 0, end) if end >= 0 else None
                if found is None or len(buffer) < end + 4 + int(found.group(1)):
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        raise RuntimeError("the server closed the connection")
                    buffer += chunk
                    continue
                if not buffer.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError(f"unexpected answer: {buffer[:200]!r}")
                buffer = buffer[end + 4 + int(found.group(1)) :]
                answered += 1
            done += batch


def one_round(
    pid: int, port: int, request: bytes, count: int, connections: int, depth: int
) -> tuple[float, float]:
    """(server CPU µs per request, requests per second)."""
    each = count // connections
    failures: list[BaseException] = []

    def client() -> None:
        try:
            drive(port, request, each, depth)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    cpu0, wall0 = cpu_seconds([pid]), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.monotonic() - wall0, cpu_seconds([pid]) - cpu0
    if failures:
        raise failures[0]
    total = each * connections
    return cpu / total * 1e6, total / wall


def line_cost(log_format: str, lines: int) -> float:
    """µs per access line through AccessLog's fast writer, written to /dev/null."""
    config = logging_config("info", log_format)
    with open(os.devnull, "w") as null:
        config["handlers"]["stderr"]["stream"] = null
        logging.config.dictConfig(config)
        access = AccessLog()

        async def run() -> float:
            started = time.perf_counter()
            for n in range(lines):
                access.line(
                    "GET",
                    "/3dCartWebAPI/v1/CustomerGroups/42",
                    200,
                    0.123 + n % 7,
                    "shop.com",
                    "0123456789abcdef",
                    "127.0.0.1",
                )
            access.flush()
            return (time.perf_counter() - started) / lines * 1e6

        try:
            return asyncio.run(run())
        finally:
            assert access._handler is not None, "the fast writer was not used"
            logging.config.dictConfig(logging_config("warning"))
            logging.getLogger().handlers = [logging.StreamHandler(io.StringIO())]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10, help="rounds per format, alternating (default 10)")
    p.add_argument("--requests", type=int, default=15_000, help="GETs by id per round (default 15000)")
    p.add_argument("--connections", type=int, default=2, help="client connections (default 2)")
    p.add_argument("--depth", type=int, default=8, help="pipelined requests per connection (default 8)")
    a = p.parse_args()
    bin_path = str(Path(sys.executable).with_name("cartgroups"))
    with tempfile.TemporaryDirectory(prefix="cartgroups-log-cost-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(url)
        migrate.upgrade(db)
        issued = credentials.issue(db, secure_url="log-cost.example.com", application="log-cost")
        db.dispose()
        headers = {
            "SecureURL": issued.secure_url,
            "PrivateKey": issued.private_key or "",
            "Token": issued.token,
        }
        servers = {fmt: start_server(bin_path, url, fmt, Path(tmp) / f"{fmt}.log") for fmt in FORMATS}
        try:
            base = f"http://{HOST}:{servers['text'][1]}/3dCartWebAPI/v1"
            created = httpx.post(
                base + "/CustomerGroups", json={"Name": "log cost"}, headers=headers, timeout=30
            )
            group = created.json()[0]["Value"]
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = (
                f"GET /3dCartWebAPI/v1/CustomerGroups/{group} HTTP/1.1\r\nHost: {HOST}\r\n{head}\r\n".encode()
            )
            figures: dict[str, list[tuple[float, float]]] = {fmt: [] for fmt in FORMATS}
            for process, port in servers.values():  # warm-up
                one_round(process.pid, port, request, 2000, a.connections, a.depth)
            for number in range(a.rounds):
                for fmt in FORMATS if number % 2 == 0 else reversed(FORMATS):
                    process, port = servers[fmt]
                    figures[fmt].append(
                        one_round(process.pid, port, request, a.requests, a.connections, a.depth)
                    )
                    cpu, rps = figures[fmt][-1]
                    print(
                        f"round {number + 1} {fmt:<4}  {cpu:7.1f} µs CPU/request  {rps:8.0f} req/s",
                        flush=True,
                    )
        finally:
            for process, _port in servers.values():
                process.terminate()
                process.wait(timeout=40)
        written = {fmt: (Path(tmp) / f"{fmt}.log").read_text().count("cartgroups.access") for fmt in FORMATS}
    expected = (
        a.rounds * a.requests // a.connections * a.connections
    ) + 2000 // a.connections * a.connections
    print()
    print(
        f"GET by id, {a.rounds} rounds of {a.requests} per format, "
        f"{a.connections} connection(s) x depth {a.depth}"
    )
    print(f"{'format':<6} {'CPU µs/req median':>18} {'best':>8} {'req/s median':>13} {'access lines':>13}")
    medians = {}
    for fmt in FORMATS:
        cpus, rates = [c for c, _ in figures[fmt]], [r for _, r in figures[fmt]]
        medians[fmt] = statistics.median(cpus)
        print(
            f"{fmt:<6} {medians[fmt]:18.1f} {min(cpus):8.1f} {statistics.median(rates):13.0f} "
            f"{written[fmt]:13d}"
        )
        if written[fmt] < expected:
            print(f"  (expected at least {expected} access lines from the {fmt} server)")
    ratio = medians["json"] / medians["text"]
    print(f"json / text, CPU per request (medians): {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")
    # Each round's pair was measured back to back: its ratio cancels the machine's slower drift.
    pairs = statistics.median(j / t for (j, _), (t, _) in zip(figures["json"], figures["text"], strict=True))
    print(
        f"json / text, CPU per request (median of the rounds' pairs): {pairs:.3f} "
        f"({(pairs - 1) * 100:+.1f} %)"
    )
    lines: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    for _ in range(7):  # alternating, best of each: the least disturbed run
        for fmt in FORMATS:
            lines[fmt].append(line_cost(fmt, 50_000))
    costs = {fmt: min(lines[fmt]) for fmt in FORMATS}
    print(f"access line alone, in-process: text {costs['text']:.2f} µs, json {costs['json']:.2f} µs")
    extra = costs["json"] - costs["text"]
    print(
        f"json costs {extra:.2f} µs more per line: {extra / min(medians.values()) * 100:.1f} % "
        "of a GET by id's CPU time"
    )


if __name__ == "__main__":
    main()
