"""Signing in and out.

The sign-in form has no session yet, so its CSRF token is a random value set in a short-lived
cookie and repeated in the form (double submit); after it, every form carries the session's
own token. A failed sign-in counts against the username and the client address (see
service/operators.py); while either is locked the page says for how long, with status 429.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from cartgroups.admin import web
from cartgroups.errors import DatabaseUnavailable, Invalid
from cartgroups.offloop import off_loop
from cartgroups.service.operators import SESSION_SECONDS, WRONG, Locked, Session


def _sign_in_page(request: Request, status: int = 200, *, error: str = "", username: str = "") -> Response:
    token = web.new_sign_in_token()
    response = web.page(
        request,
        "sign_in.html",
        status,
        csrf_token=token,
        error=error,
        username=username,
        next=web.safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        web.SIGN_IN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=web.PREFIX,
        secure=web.is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def sign_in_form(request: Request) -> Response:
    try:
        if await web.current_session(request) is not None:
            return web.redirect(web.safe_next(request.query_params.get("next")))
    except DatabaseUnavailable as exc:
        return web.unavailable(request, exc)
    return _sign_in_page(request)


async def sign_in(request: Request) -> Response:
    try:
        form = await web.read_form(request)
    except web.FormError as exc:
        return web.form_error(request, exc)
    expected = request.cookies.get(web.SIGN_IN_CSRF_COOKIE, "")
    if not (web.same_origin(request) and web.csrf_ok(expected, form)):
        return _sign_in_page(request, 403, error=web.csrf_failed(request))
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username or not password:
        return _sign_in_page(request, 400, error="Enter your username and password.", username=username)
    operators = web.console(request).operators
    address = request.client.host if request.client else "unknown"
    try:
        # attempt() and finish() are database work: on the process's thread for it (offloop.py).
        # check() is the scrypt hash, CPU only: on anyio's threads, so that sign-ins arriving
        # together hash in parallel and do not queue behind the database work.
        attempt = await off_loop(operators.attempt, username=username, address=address)
        if isinstance(attempt, Locked):
            return _locked(request, attempt, username)
        ok = await anyio.to_thread.run_sync(operators.check, attempt, password)
        signed_in = await off_loop(operators.finish, attempt, ok=ok)
    except Invalid as exc:
        return _sign_in_page(request, 400, error=exc.message)
    except DatabaseUnavailable as exc:
        return web.unavailable(request, exc)
    if isinstance(signed_in, Locked):
        return _locked(request, signed_in, username)
    if signed_in is None:
        return _sign_in_page(request, 401, error=WRONG, username=username)
    target = form.get("next")
    response = web.redirect(web.safe_next(target))
    response.set_cookie(
        web.SESSION_COOKIE,
        signed_in.session_id,
        max_age=SESSION_SECONDS,
        path=web.PREFIX,
        secure=web.is_https(request),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(web.SIGN_IN_CSRF_COOKIE, path=web.PREFIX)
    return response


def _locked(request: Request, locked: Locked, username: str) -> Response:
    error = f"Too many failed sign-ins. Try again in {locked.seconds} seconds."
    response = _sign_in_page(request, 429, error=error, username=username)
    response.headers["retry-after"] = str(locked.seconds)
    return response


@web.signed_in
async def sign_out(request: Request, session: Session) -> Response:
    session_id = request.cookies.get(web.SESSION_COOKIE, "")
    await off_loop(web.console(request).operators.end_session, session_id)
    response = web.redirect(f"{web.PREFIX}/sign-in")
    response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response
