"""Signing in and out, sessions, CSRF on the sign-in form, and the brake on failed sign-ins."""

from __future__ import annotations

import anyio
import httpx
import pytest

from cartgroups.admin import create_admin_app
from cartgroups.service import operators as ops
from cartgroups.service.operators import Locked, Operators, SignedIn
from cartgroups.service.stores import Stores
from cartgroups.storage import operators as op_sql
from tests.admin.support import PASSWORD, USERNAME, Browser, text_of
from tests.conftest import LiveServer

# Every page that needs an operator, GET and POST. {s}: a store id, {g}: a group id, {t}: a token id.
GET_PAGES = [
    "/admin",
    "/admin/",
    "/admin/stores",
    "/admin/stores/1/groups",
    "/admin/stores/1/groups/new",
    "/admin/stores/1/groups/1/edit",
    "/admin/stores/1/groups/1/delete",
    "/admin/stores/1/credentials",
]
POST_PAGES = [
    "/admin/sign-out",
    "/admin/stores/1/groups/new",
    "/admin/stores/1/groups/1/edit",
    "/admin/stores/1/groups/1/delete",
    "/admin/stores/1/credentials",
    "/admin/stores/1/tokens/1/revoke",
]


def _session_count(server: LiveServer) -> int:
    with server.db.read() as conn:
        return len(conn.execute(op_sql.sa.select(op_sql.operator_sessions)).all())


@pytest.mark.parametrize("path", GET_PAGES)
def test_pages_redirect_to_sign_in_without_a_session(anon: Browser, path: str) -> None:
    response = anon.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/sign-in?next={path}"


@pytest.mark.parametrize("path", POST_PAGES)
def test_forms_are_refused_without_a_session(anon: Browser, server: LiveServer, path: str) -> None:
    response = anon.post(path, {"Name": "x"}, csrf="anything")
    assert response.status_code == 403
    assert "Your session has ended. Sign in again." in text_of(response.text)


def test_sign_in_page_sets_a_strict_http_only_form_cookie(anon: Browser) -> None:
    response = anon.get("/admin/sign-in")
    assert response.status_code == 200
    assert 'autocomplete="current-password"' in response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("cartgroups_admin_signin=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test below


def test_sign_in_starts_a_session_with_a_safe_cookie(
    anon: Browser, server: LiveServer, operator: int
) -> None:
    anon.get("/admin/sign-in", next="/admin/stores/1/credentials")
    response = anon.post(
        "/admin/sign-in", {"username": USERNAME, "password": PASSWORD, "next": "/admin/stores/1/credentials"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/stores/1/credentials"
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("cartgroups_admin="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert "Path=/admin" in session_cookie and f"Max-Age={ops.SESSION_SECONDS}" in session_cookie
    assert _session_count(server) == 1
    # Only the hash of the session id is stored.
    session_id = anon.client.cookies["cartgroups_admin"]
    with server.db.read() as conn:
        assert op_sql.find_session(conn, session_hash=session_id, now=0) is None
        assert op_sql.find_session(conn, session_hash=ops.session_hash(session_id), now=0) is not None
    page = anon.get("/admin/stores")
    assert page.status_code == 200 and "alice" in page.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/admin", "/elsewhere", "/admin//x"]
)
def test_next_never_leaves_the_console(anon: Browser, operator: int, target: str) -> None:
    anon.get("/admin/sign-in")
    response = anon.post("/admin/sign-in", {"username": USERNAME, "password": PASSWORD, "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/stores"


def test_wrong_password_and_unknown_user_get_the_same_answer(
    anon: Browser, server: LiveServer, operator: int
) -> None:
    for username, password in ((USERNAME, "wrong password!"), ("nobody", PASSWORD)):
        response = anon.sign_in(username, password)
        assert response.status_code == 401
        assert "Wrong username or password." in text_of(response.text)
        assert "cartgroups_admin=" not in response.headers.get("set-cookie", "")
    assert _session_count(server) == 0
    assert Operators(server.db).failures(subject="user:alice") is not None


def test_missing_fields_are_reported(anon: Browser, operator: int) -> None:
    anon.get("/admin/sign-in")
    response = anon.post("/admin/sign-in", {"username": USERNAME, "password": ""})
    assert response.status_code == 400
    assert "Enter your username and password." in text_of(response.text)


@pytest.mark.parametrize("token", ["", "forged"])
def test_sign_in_without_the_form_token_is_rejected(
    anon: Browser, server: LiveServer, operator: int, token: str
) -> None:
    anon.get("/admin/sign-in")
    response = anon.post("/admin/sign-in", {"username": USERNAME, "password": PASSWORD}, csrf=token)
    assert response.status_code == 403
    assert "This form was not sent from a page of this console" in text_of(response.text)
    assert _session_count(server) == 0


def test_sign_in_from_another_origin_is_rejected(anon: Browser, server: LiveServer, operator: int) -> None:
    anon.get("/admin/sign-in")
    response = anon.client.post(
        "/admin/sign-in",
        data={"csrf_token": anon.csrf, "username": USERNAME, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert _session_count(server) == 0


def test_sign_in_form_must_be_urlencoded(anon: Browser, operator: int) -> None:
    anon.get("/admin/sign-in")
    response = anon.client.post("/admin/sign-in", json={"username": USERNAME})
    assert response.status_code == 415
    assert "Forms must be sent as application/x-www-form-urlencoded." in text_of(response.text)


def test_failed_sign_ins_lock_the_username(anon: Browser, server: LiveServer, operator: int) -> None:
    free = ops.FREE_FAILURES["user"]
    for _ in range(free):
        assert anon.sign_in(USERNAME, "wrong password!").status_code == 401
    locked = anon.sign_in(USERNAME, "wrong password!")
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "2"
    assert "Too many failed sign-ins. Try again in 2 seconds." in text_of(locked.text)
    row = Operators(server.db).failures(subject="user:alice")
    assert row is not None and row.failures == free + 1
    assert row.locked_until - row.last_failure_at == 2
    assert _session_count(server) == 0


def test_the_lock_doubles_and_success_clears_the_username_counter(server: LiveServer, operator: int) -> None:
    now = [1_000_000.0]
    operators = Operators(server.db, clock=lambda: now[0])
    free = ops.FREE_FAILURES["user"]
    for _ in range(free):
        assert operators.sign_in(username=USERNAME, password="nope nope nope", address="10.0.0.1") is None
    waits = []
    for _ in range(4):
        failed = operators.sign_in(username=USERNAME, password="nope nope nope", address="10.0.0.1")
        assert isinstance(failed, Locked)
        assert operators.locked_for(username=USERNAME, address="10.0.0.1") == failed.seconds
        waits.append(failed.seconds)
        attempt = operators.sign_in(username=USERNAME, password=PASSWORD, address="10.0.0.1")
        assert attempt == Locked(waits[-1])
        now[0] += waits[-1]  # the lock is over
    assert waits == [2, 4, 8, 16]
    signed_in = operators.sign_in(username=USERNAME, password=PASSWORD, address="10.0.0.1")
    assert isinstance(signed_in, SignedIn)
    assert operators.failures(subject="user:alice") is None
    assert operators.failures(subject="ip:10.0.0.1") is not None  # the address keeps its count


def test_failures_are_forgotten_after_an_idle_hour(server: LiveServer, operator: int) -> None:
    now = [5_000_000.0]
    operators = Operators(server.db, clock=lambda: now[0])
    for _ in range(3):
        operators.sign_in(username=USERNAME, password="nope nope nope", address="10.0.0.2")
    now[0] += ops.FORGET_AFTER_SECONDS
    operators.sign_in(username=USERNAME, password="nope nope nope", address="10.0.0.2")
    row = operators.failures(subject="user:alice")
    assert row is not None and row.failures == 1


def test_failed_sign_ins_from_one_address_lock_it_for_every_username(
    server: LiveServer, operator: int
) -> None:
    operators = Operators(server.db, clock=lambda: 2_000_000.0)
    for number in range(ops.FREE_FAILURES["ip"] + 1):
        operators.sign_in(username=f"guess{number}", password="nope nope nope", address="10.9.9.9")
    assert operators.locked_for(username=USERNAME, address="10.9.9.9") == 2
    assert operators.locked_for(username=USERNAME, address="10.0.0.3") == 0
    assert operators.sign_in(username=USERNAME, password=PASSWORD, address="10.9.9.9") == Locked(2)


def test_lock_seconds() -> None:
    assert [ops.lock_seconds(n, 5) for n in range(0, 9)] == [0, 0, 0, 0, 0, 0, 2, 4, 8]
    assert ops.lock_seconds(100, 5) == ops.MAX_LOCK_SECONDS


def test_sign_out_ends_the_session(browser: Browser, server: LiveServer) -> None:
    assert _session_count(server) == 1
    response = browser.post("/admin/sign-out")
    assert response.status_code == 303 and response.headers["location"] == "/admin/sign-in"
    assert _session_count(server) == 0
    assert browser.get("/admin/stores").status_code == 303


def test_sign_out_needs_the_csrf_token(browser: Browser, server: LiveServer) -> None:
    response = browser.post("/admin/sign-out", csrf="forged")
    assert response.status_code == 403
    assert _session_count(server) == 1


def test_a_session_ends_when_it_expires(server: LiveServer, operator: int) -> None:
    now = [3_000_000.0]
    operators = Operators(server.db, clock=lambda: now[0])
    signed_in = operators.start_session(operator_id=operator, username=USERNAME)
    assert operators.session(signed_in.session_id) == signed_in.session
    now[0] += ops.SESSION_SECONDS
    assert operators.session(signed_in.session_id) is None


def test_deleting_the_operator_ends_its_sessions(browser: Browser, server: LiveServer) -> None:
    Operators(server.db).delete(username=USERNAME)
    assert browser.get("/admin/stores").status_code == 303
    assert _session_count(server) == 0


def test_over_https_the_cookies_are_secure(server: LiveServer, operator: int) -> None:
    assert server.app.services is not None
    app = create_admin_app(
        groups_service=server.app.services.groups,
        stores=Stores(server.db),
        operators=Operators(server.db),
        max_body_bytes=1 << 20,
    )

    async def sign_in() -> tuple[str, list[str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            page = await client.get("/admin/sign-in")
            token = client.cookies["cartgroups_admin_signin"]
            response = await client.post(
                "/admin/sign-in", data={"csrf_token": token, "username": USERNAME, "password": PASSWORD}
            )
            assert response.status_code == 303
            return page.headers["set-cookie"], response.headers.get_list("set-cookie")

    form_cookie, cookies = anyio.run(sign_in)
    assert "Secure" in form_cookie
    session_cookie = next(c for c in cookies if c.startswith("cartgroups_admin="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie


def test_password_hashes_are_salted_scrypt_with_their_parameters() -> None:
    first, second = ops.hash_password("a long password"), ops.hash_password("a long password")
    assert first != second
    scheme, n, r, p, _salt, _digest = first.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", ops.SCRYPT_N, ops.SCRYPT_R, ops.SCRYPT_P)
    assert ops.verify_password("a long password", first)
    assert not ops.verify_password("a long passworD", first)
    cheap = ops.hash_password("another one", n=2**10)
    assert cheap.split("$")[1] == "1024" and ops.verify_password("another one", cheap)
    assert not ops.verify_password("x", "not a hash")
