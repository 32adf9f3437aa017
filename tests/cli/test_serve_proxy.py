"""``cartgroups serve`` behind a reverse proxy (issue #19, item 3), as real processes with real
forwarded headers, on both databases: --proxy-headers and --forwarded-allow-ips (and their
variables) make a trusted proxy's X-Forwarded-Proto give Secure cookies and its
X-Forwarded-For the client address that the sign-in brake counts; any other peer's forwarded
headers are ignored, and so are everyone's by default."""

from __future__ import annotations

from pathlib import Path

from cartgroups.service.operators import Operators
from cartgroups.storage.database import Database
from tests.admin.forwarded import PROXY, STRANGER, Peer
from tests.admin.support import make_operator
from tests.cli.procs import Served, access_lines, run_all, serving

FORGED = {"x-forwarded-proto": "https", "x-forwarded-for": "192.0.2.200"}


def _operator(database_url: str) -> None:
    db = Database(database_url)
    try:
        make_operator(db)
    finally:
        db.dispose()


def _failures(database_url: str, address: str) -> int:
    db = Database(database_url)
    try:
        row = Operators(db).failures(subject=f"ip:{address}")
    finally:
        db.dispose()
    return 0 if row is None else row.failures


def _secure_after_sign_in(served: Served, source: str, headers: dict[str, str]) -> bool:
    browser = Peer(served.base_url, source, headers)
    try:
        response = browser.sign_in()
        assert response.status_code == 303, response.text
        return browser.cookies["cartgroups_admin"]["secure"] is True
    finally:
        browser.close()


def _fail_sign_in(served: Served, source: str, headers: dict[str, str]) -> None:
    browser = Peer(served.base_url, source, headers)
    try:
        assert browser.sign_in("nobody", "not the password").status_code == 401
    finally:
        browser.close()


def test_behind_a_trusted_proxy_https_and_the_client_address_come_from_its_headers(
    empty_database_url: str, tmp_path: Path
) -> None:
    _operator(empty_database_url)
    args = ("--proxy-headers", "--forwarded-allow-ips", f" {PROXY} ,10.0.0.0/8")
    with serving(*args, database_url=empty_database_url, cwd=tmp_path) as served:
        assert "Proxy headers (X-Forwarded-For, X-Forwarded-Proto) believed from 127.0.0.1,10.0.0.0/8" in (
            served.stdout
        )
        proxied = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.66"}
        assert _secure_after_sign_in(served, PROXY, proxied)
        assert not _secure_after_sign_in(served, PROXY, {"x-forwarded-proto": "http"})
        _fail_sign_in(served, PROXY, proxied)
        # From a peer that is not the proxy, the same headers are ignored.
        assert not _secure_after_sign_in(served, STRANGER, FORGED)
        _fail_sign_in(served, STRANGER, FORGED)
    assert _failures(empty_database_url, "203.0.113.66") == 1
    assert _failures(empty_database_url, STRANGER) == 1
    # The access log names the same client addresses.
    clients = {m["client"] for m in access_lines(served) if m["path"] == "/admin/sign-in"}
    assert clients == {"203.0.113.66", PROXY, STRANGER}  # PROXY: the request with no X-Forwarded-For
    assert _failures(empty_database_url, "192.0.2.200") == 0
    assert _failures(empty_database_url, PROXY) == 0


def test_the_variables_reach_every_worker(empty_database_url: str, tmp_path: Path) -> None:
    _operator(empty_database_url)
    with serving(
        "--workers",
        "2",
        database_url=empty_database_url,
        cwd=tmp_path,
        CARTGROUPS_PROXY_HEADERS="true",
        CARTGROUPS_FORWARDED_ALLOW_IPS=PROXY,
    ) as served:
        for _ in range(6):  # new connections, spread over both workers
            assert _secure_after_sign_in(served, PROXY, {"x-forwarded-proto": "https"})
        assert not _secure_after_sign_in(served, STRANGER, FORGED)


def test_by_default_forwarded_headers_are_ignored_even_from_this_machine(
    empty_database_url: str, tmp_path: Path
) -> None:
    _operator(empty_database_url)
    with serving(database_url=empty_database_url, cwd=tmp_path) as served:
        assert "Proxy headers" not in served.stdout
        assert not _secure_after_sign_in(served, PROXY, FORGED)
        _fail_sign_in(served, PROXY, FORGED)
    assert _failures(empty_database_url, PROXY) == 1
    assert _failures(empty_database_url, "192.0.2.200") == 0


def test_a_proxy_list_that_is_not_addresses_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    cases = {"10.0.0.l": "'10.0.0.l'", "10.0.0.1/8": "'10.0.0.1/8'", "*,10.0.0.1": "'*'"}
    commands = [["serve", "--proxy-headers", "--forwarded-allow-ips", given] for given in cases]
    for result, named in zip(run_all(commands, database_url=url, cwd=tmp_path), cases.values(), strict=True):
        assert result.one_line_error() == (
            "error: invalid setting forwarded_allow_ips (CARTGROUPS_FORWARDED_ALLOW_IPS or its flag): "
            f"Value error, {named} is not an IP address or network; give proxies as addresses or "
            "networks separated by commas, such as 127.0.0.1,10.0.0.0/8, or * for every peer"
        )
    assert not (tmp_path / "cg.db").exists()
