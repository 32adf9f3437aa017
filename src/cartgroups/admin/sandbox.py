"""The sandbox pages, present only while the server runs with ``--sandbox``: a store's request
journal (newest first, each entry in a detail view; clear it) and the fault rules (list, add,
delete one, clear all). Everything goes through service.sandbox.Sandbox, the object behind the
/_cartgroups/ control API, so a rule is checked by the same code and rejected with the same
message; the console shows that message next to the field it is about. Sandbox is synchronous
and reads and writes the database (the journal, the rules), so every call into it goes through
``await off_loop(...)``, like the store pages' calls into Stores."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from starlette.requests import Request
from starlette.responses import Response

from cartgroups.admin import web
from cartgroups.admin.store_pages import store_asked
from cartgroups.api.sandbox import fault_json, journal_json
from cartgroups.errors import Invalid
from cartgroups.offloop import off_loop
from cartgroups.service.operators import Session
from cartgroups.service.sandbox import FAULT_FIELDS, METHODS, Sandbox

JOURNAL_SHOWN = 200  # entries on the journal page at most (the detail view has the bodies)
STORE_SUGGESTIONS = 500
_WHOLE = re.compile(r"[0-9]{1,15}")


def _sandbox(request: Request) -> Sandbox:
    found = web.console(request).sandbox
    assert found is not None, "the sandbox routes exist only with the sandbox on"
    return found


def _notice(request: Request, key: str, one: str, many: str = "") -> str:
    """The line shown after a redirect: ``?cleared=3`` gives ``many`` (or ``one`` for 1) with
    the number in it; anything but a number shows nothing."""
    raw = request.query_params.get(key, "")
    if not (raw.isdigit() and len(raw) <= 10):
        return ""
    return (one if raw == "1" or not many else many).format(raw)


# Journal ---------------------------------------------------------------------------------------


@web.signed_in
async def journal(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    sandbox = _sandbox(request)
    limit = min(sandbox.journal_size, JOURNAL_SHOWN)
    entries = [journal_json(row) for row in await off_loop(sandbox.journal, store.secure_url, limit)]
    return web.page(
        request,
        "journal.html",
        session=session,
        store=store,
        entries=entries,
        shown=limit,
        kept=sandbox.journal_size,
        notice=_notice(request, "cleared", "1 journal entry deleted.", "{} journal entries deleted."),
    )


@web.signed_in
async def journal_entry(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    entry_id = web.parse_id(request.path_params["entry_id"])
    entry = journal_json(await off_loop(_sandbox(request).journal_entry, store.secure_url, entry_id))
    return web.page(request, "journal_entry.html", session=session, store=store, entry=entry)


@web.signed_in
async def clear_journal(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    deleted = await off_loop(_sandbox(request).clear_journal, store.secure_url)
    return web.redirect(f"{web.PREFIX}/stores/{store.id}/journal?cleared={deleted}")


# Fault rules -----------------------------------------------------------------------------------

BLANK_RULE = {name: "" for name in FAULT_FIELDS} | {"method": "*", "path": "*", "match": "glob"}


def _rule_body(form: dict[str, str]) -> dict[str, object]:
    """The JSON object the control API would receive for this form. An empty field is left
    out; a number that cannot be read as one is passed on as text, so that the sandbox rejects
    it with the API's own message (``status must be a whole number from 400 to 599``)."""
    body: dict[str, object] = {}
    for name in FAULT_FIELDS:
        raw = form.get(name, "")
        text = raw.strip() if name not in ("path", "message") else raw
        if text == "":
            continue
        if name in ("status", "latency_ms", "times", "retry_after"):
            body[name] = int(text) if _WHOLE.fullmatch(text) else text
        elif name == "probability":
            body[name] = _number(text)
        else:
            body[name] = text
    return body


def _number(text: str) -> object:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return value if value.is_finite() else text


async def _store_names(request: Request) -> list[str]:
    """The stores' SecureURLs, offered as suggestions for a rule's store (the first few hundred)."""
    found = await off_loop(_sandbox(request).stores)
    return [str(row["SecureURL"]) for row in found[:STORE_SUGGESTIONS]]


async def _faults_page(
    request: Request,
    session: Session,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    error: Invalid | None = None,
    notice: str = "",
) -> Response:
    rules = [fault_json(row) for row in await off_loop(_sandbox(request).faults)]
    return web.page(
        request,
        "faults.html",
        status,
        session=session,
        rules=rules,
        values=values or BLANK_RULE,
        methods=METHODS,
        stores=await _store_names(request),
        errors=dict(error.fields) if error else {},
        summary=error.message if error else "",
        notice=notice,
    )


@web.signed_in
async def faults(request: Request, session: Session) -> Response:
    notice = (
        _notice(request, "added", "Fault rule {} added.")
        or _notice(request, "deleted", "Fault rule {} deleted.")
        or _notice(request, "cleared", "1 fault rule deleted.", "{} fault rules deleted.")
    )
    return await _faults_page(request, session, notice=notice)


@web.signed_in
async def add_fault(request: Request, session: Session) -> Response:
    form: dict[str, str] = request.state.form
    try:
        rule = await off_loop(_sandbox(request).add_fault, _rule_body(form))
    except Invalid as exc:
        values = {name: form.get(name, "") for name in FAULT_FIELDS}
        return await _faults_page(request, session, status=400, values=values, error=exc)
    return web.redirect(f"{web.PREFIX}/sandbox/faults?added={rule.id}")


@web.signed_in
async def delete_fault(request: Request, session: Session) -> Response:
    fault_id = web.parse_id(request.path_params["fault_id"])
    await off_loop(_sandbox(request).delete_fault, fault_id)
    return web.redirect(f"{web.PREFIX}/sandbox/faults?deleted={fault_id}")


@web.signed_in
async def clear_faults(request: Request, session: Session) -> Response:
    deleted = await off_loop(_sandbox(request).clear_faults)
    return web.redirect(f"{web.PREFIX}/sandbox/faults?cleared={deleted}")
