"""Smoke test of an installed ``cartgroups serve`` (scripts/smoke-wheel runs it in a fresh venv).

    python scripts/smoke_serve.py PATH/TO/cartgroups PATH/TO/new.db

Starts the server on a new SQLite file and a free loopback port, reads the demo credentials from
its banner, checks /healthz, creates a group with them (POST) and reads it back (GET), then stops
the server. Standard library only; talks to 127.0.0.1 only; gives up after 60 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(url: str, headers: dict[str, str], body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    method = "GET" if body is None else "POST"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def main(cartgroups: str, database: str) -> int:
    port = free_port()
    env = os.environ | {"CARTGROUPS_DATABASE_URL": f"sqlite:///{database}", "NO_COLOR": "1"}
    server = subprocess.Popen(
        [cartgroups, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout or ()), daemon=True)
    reader.start()
    try:
        credentials: dict[str, str] = {}
        start = time.monotonic()
        while len(credentials) < 3:
            if server.poll() is not None or time.monotonic() - start > DEADLINE:
                raise SystemExit("the server printed no demo credentials:\n" + "".join(lines))
            for line in list(lines):
                found = re.match(r"\s+(SecureURL|PrivateKey|Token):\s+(\S+)", line)
                if found:
                    credentials[found.group(1)] = found.group(2)
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        while True:  # the banner comes before uvicorn accepts: wait for /healthz
            try:
                status, health = request(base + "/healthz", {})
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - start > DEADLINE:
                    raise SystemExit("/healthz never answered:\n" + "".join(lines)) from None
                time.sleep(0.1)
        assert status == 200, (status, health)
        api = base + "/3dCartWebAPI/v1/CustomerGroups"
        headers = credentials | {"Content-Type": "application/json", "Accept": "application/json"}
        status, created = request(api, headers, {"Name": "Smoke", "MinimumOrder": 12.5})
        assert status == 201, (status, created)
        assert isinstance(created, list) and created[0]["Status"] == "201", created
        group_id = created[0]["Value"]
        status, read = request(f"{api}/{group_id}", headers)
        assert status == 200, (status, read)
        assert isinstance(read, list) and read[0]["Name"] == "Smoke", read
        assert read[0]["MinimumOrder"] == 12.5, read
        print(f"smoke_serve: /healthz {health}; POST made group {group_id}; GET read it back")
        return 0
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
