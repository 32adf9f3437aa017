"""A store's applications and tokens: list them with their scopes, issue a token (its secret is
shown once, on the answer to the form, and never stored), revoke one. Issuing and revoking go
through service.stores.Stores to service.credentials' issue() and revoke(), the same functions as
`cartgroups credentials create|revoke`: a revocation here is noticed by every Authenticator."""

from __future__ import annotations

from itertools import groupby

from starlette.requests import Request
from starlette.responses import Response

from cartgroups.admin import web
from cartgroups.admin.store_pages import store_asked
from cartgroups.errors import Invalid, NotFound
from cartgroups.offloop import off_loop
from cartgroups.service import credentials
from cartgroups.service.operators import Session
from cartgroups.service.stores import StoreRow

TOKEN_NOT_FOUND = "This store has no such live token (it may have been revoked already)."  # noqa: S105 (a message, not a secret)


async def _credentials_page(
    request: Request,
    session: Session,
    store: StoreRow,
    *,
    status: int = 200,
    application: str = credentials.DEFAULT_APP,
    read: bool = True,
    write: bool = True,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    tokens, known = await off_loop(web.console(request).stores.tokens, store.id)
    by_app = [(name, list(rows)) for name, rows in groupby(tokens, key=lambda t: t.application)]
    return web.page(
        request,
        "credentials.html",
        status,
        session=session,
        store=store,
        applications=by_app,
        known_applications=known,
        application=application,
        read=read,
        write=write,
        errors=errors or {},
        notice=notice,
    )


@web.signed_in
async def credentials_page(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    notice = ""
    revoked = request.query_params.get("revoked", "")
    if revoked.isdigit() and len(revoked) <= 10:
        notice = f"Token {revoked} revoked."
    return await _credentials_page(request, session, store, notice=notice)


@web.signed_in
async def issue_token(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    form: dict[str, str] = request.state.form
    application = form.get("application", "").strip()
    read, write = "read" in form, "write" in form
    scope = ",".join(name for name, on in (("read", read), ("write", write)) if on)
    try:
        issued = await off_loop(
            web.console(request).stores.issue,
            secure_url=store.secure_url,
            application=application,
            scope=scope,
        )
    except Invalid as exc:
        errors = dict(exc.fields) or {"application": exc.message}
        return await _credentials_page(
            request,
            session,
            store,
            status=400,
            application=application,
            read=read,
            write=write,
            errors=errors,
        )
    return web.page(request, "token_issued.html", session=session, store=store, issued=issued)


@web.signed_in
async def revoke_token(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    token_id = web.parse_id(request.path_params["token_id"])
    try:
        await off_loop(web.console(request).stores.revoke, store_id=store.id, token_id=token_id)
    except NotFound:
        raise NotFound(TOKEN_NOT_FOUND) from None
    return web.redirect(f"{web.PREFIX}/stores/{store.id}/credentials?revoked={token_id}")
