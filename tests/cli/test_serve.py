"""``cartgroups serve`` as a real process: demo credentials, access log, ports, workers."""

from __future__ import annotations

import re
import shlex
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from cartgroups.service import credentials
from tests.cli.procs import Served, access_lines, api_headers, serving

API = "/3dCartWebAPI/v1"
DEMO = credentials.DEMO_STORE


def banner_value(served: Served, name: str) -> str:
    line = served.wait_for(served.out, lambda line: line.startswith(f"  {name}:"))
    return line.split(":", 1)[1].strip()


def parse_curl(line: str) -> tuple[dict[str, str], str]:
    """The headers and URL of the printed curl command, split the way a shell would."""
    words = shlex.split(line)
    assert words[0] == "curl", line
    headers: dict[str, str] = {}
    rest = iter(words[1:])
    url = ""
    for word in rest:
        if word == "-H":
            name, value = next(rest).split(":", 1)
            headers[name] = value.strip()
        else:
            assert not url, f"more than one URL in {line!r}"
            url = word
    return headers, url


def test_first_start_prints_working_credentials_and_logs_each_request_without_secrets(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with serving("--log-level", "info", database_url=fresh_database_url, cwd=tmp_path) as served:
        secure_url = banner_value(served, "SecureURL")
        key = banner_value(served, "PrivateKey")
        token = banner_value(served, "Token")
        curl = served.wait_for(served.out, lambda line: line.strip().startswith("curl ")).strip()
        assert secure_url == DEMO
        assert re.fullmatch(r"[0-9a-f]{32}", key) and re.fullmatch(r"[0-9a-f]{32}", token)
        assert f"Serving {served.base_url} with 1 worker(s)" in served.stdout

        headers, url = parse_curl(curl)
        assert headers == {"SecureURL": secure_url, "PrivateKey": key, "Token": token}
        assert url == served.base_url + API + "/CustomerGroups"
        with httpx.Client(headers=headers, timeout=30) as client:
            empty = client.get(url)  # exactly what the pasted command does
            assert empty.status_code == 404
            assert empty.json()[0]["Key"] == "Error"
            created = client.post(url, json={"Name": "Wholesale"})
            assert created.status_code == 201, created.text
            # A secret in the query string must not reach the log either.
            assert client.get(f"{url}/1", params={"token": token}).status_code == 200
            wrong = client.get(url, headers={"Token": "f" * 32})
            assert wrong.status_code == 401
    made = [
        ("GET", f"{API}/CustomerGroups", "404", DEMO),
        ("POST", f"{API}/CustomerGroups", "201", DEMO),
        ("GET", f"{API}/CustomerGroups/1", "200", DEMO),
        ("GET", f"{API}/CustomerGroups", "401", "-"),
    ]
    logged = [
        (m["method"], m["path"], m["status"], m["store"])
        for m in access_lines(served)
        if m["path"] != "/healthz"
    ]
    assert logged == made, served.stderr
    for secret in (key, token, "f" * 32):
        assert secret not in served.stderr

    # A second start on the same database: no new store, no credentials, and at warning
    # level no access lines.
    with serving("--log-level", "warning", database_url=fresh_database_url, cwd=tmp_path) as again:
        with httpx.Client(headers=headers, timeout=30) as client:
            assert client.get(again.base_url + API + "/CustomerGroups/1").status_code == 200
        again.wait_for(again.out, lambda line: line.startswith("Serving "))
    assert again.out[0].startswith("cartgroups ")
    for word in ("SecureURL", "PrivateKey", "Token", "curl", key, token):
        assert word not in again.stdout
    assert access_lines(again) == []
    assert "cartgroups.access" not in again.stderr


def test_port_in_use_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serving(database_url=url, cwd=tmp_path, port=port, ready=False) as served:
            code = served.proc.wait(timeout=60)
        assert code == 1
        assert served.err == [
            f"error: port {port} on 127.0.0.1 is already in use; choose another with --port"
        ]
        assert served.out == []
    # The demo credentials were never shown, so the failed start must not have made them: it
    # stops before the database, so the next start on it makes and prints them.
    assert list(tmp_path.iterdir()) == []


def test_two_workers_share_the_port_and_the_database(empty_database_url: str, tmp_path: Path) -> None:
    with serving("--workers", "2", database_url=empty_database_url, cwd=tmp_path) as served:
        served.wait_for(served.out, lambda line: "with 2 worker(s)" in line)
        headers = api_headers(empty_database_url)

        def create(_: int) -> int:
            with httpx.Client(base_url=served.base_url + API, headers=headers, timeout=30) as c:
                response = c.post("/CustomerGroups", json={"Name": "Wholesale"})
                assert response.status_code == 201, response.text
                return int(response.json()[0]["Value"])

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(create, range(20)))
        assert sorted(ids) == list(range(1, 21))

        def workers() -> set[str]:
            return set(re.findall(r"Started server process \[(\d+)\]", served.stderr))

        served.wait_for(served.err, lambda _: len(workers()) == 2)
    posts = [m for m in access_lines(served) if m["method"] == "POST"]
    assert len(posts) == 20
    assert {m["store"] for m in posts} == {"shop.com"}
