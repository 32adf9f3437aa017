"""Stores and their customer groups: the stores list, a store's groups table, and the
create, edit and delete forms. Writes go through service.customer_groups.CustomerGroups, the
same object the 3dcart API uses, so the rules and messages are the API's."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cartgroups.admin import web
from cartgroups.errors import Invalid, NotFound
from cartgroups.model import EDITABLE, CustomerGroup, FieldSpec
from cartgroups.offloop import off_loop
from cartgroups.service.credentials import Principal
from cartgroups.service.operators import Session
from cartgroups.service.stores import GROUP_SORTS, Page, StoreRow
from cartgroups.service.validation import ascii_whole, is_clean_text

PAGE_SIZE = 50
SEARCH_MAX = 150
SORT_LABELS = {"id": "ID", "name": "Name", "price_level": "Price level"}
NO_STORE = "No such store."


def page_asked(request: Request) -> int:
    """The page number in the query (the service clamps it to the pages there are); a bad
    number means page 1."""
    raw = request.query_params.get("page")
    asked = ascii_whole(raw, 9) if raw else None
    return 1 if asked is None else asked


# What a search that cannot match finds (see _search): nothing, on one page.
NOTHING: Page[Any] = Page([], 0, 1, 1)


def _by_operator(store: StoreRow, session: Session) -> Principal:
    """Who a console change is recorded as in the audit log: the signed-in operator, as the
    application "admin:<username>", with no token."""
    return Principal(
        store.id, store.secure_url, can_read=True, can_write=True, application=f"admin:{session.username}"
    )


async def _store(request: Request) -> StoreRow:
    """The store the URL names (NotFound when none); Stores is synchronous, so off the loop."""
    store_id = web.parse_id(request.path_params["store_id"])
    store = await off_loop(web.console(request).stores.get, store_id)
    if store is None:
        raise NotFound(NO_STORE)
    return store


def _search(request: Request) -> tuple[str, bool]:
    """The search text, and whether stored text can contain it at all: no store address or
    group name holds a NUL or a lone surrogate (the API refuses them; PostgreSQL cannot even
    take them as a parameter), so such a search matches nothing, without asking the database."""
    query = request.query_params.get("q", "").strip()[:SEARCH_MAX]
    return query, is_clean_text(query)


@web.signed_in
async def home(request: Request, session: Session) -> Response:
    return web.redirect(f"{web.PREFIX}/stores")


@web.signed_in
async def stores(request: Request, session: Session) -> Response:
    query, matchable = _search(request)
    found: Page[StoreRow] = NOTHING
    if matchable:
        found = await off_loop(
            web.console(request).stores.search, contains=query, size=PAGE_SIZE, number=page_asked(request)
        )
    return web.page(request, "stores.html", session=session, stores=found.rows, q=query, paging=found)


NOTICES = {"created": "Group {} created.", "updated": "Group {} saved.", "deleted": "Group {} deleted."}


def _notice(request: Request) -> str:
    for key, text in NOTICES.items():
        raw = request.query_params.get(key, "")
        if raw.isdigit() and len(raw) <= 10:
            return text.format(raw)
    return ""


@web.signed_in
async def group_table(request: Request, session: Session) -> Response:
    store = await _store(request)
    query, matchable = _search(request)
    sort = request.query_params.get("sort", "id")
    if sort not in GROUP_SORTS:
        sort = "id"
    descending = request.query_params.get("dir") == "desc"
    found: Page[CustomerGroup] = NOTHING
    if matchable:
        found = await off_loop(
            web.console(request).stores.groups,
            store.id,
            name_contains=query,
            sort=sort,
            descending=descending,
            size=PAGE_SIZE,
            number=page_asked(request),
        )
    return web.page(
        request,
        "groups.html",
        session=session,
        store=store,
        groups=found.rows,
        q=query,
        sort=sort,
        descending=descending,
        sort_labels=SORT_LABELS,
        paging=found,
        notice=_notice(request),
    )


# The form: one input per editable field of model.EDITABLE, named by its wire name.


def _form_values(source: CustomerGroup | Mapping[str, object]) -> dict[str, Any]:
    """What the form shows: a group's values, or for a new one the server's defaults (by column)."""
    columns = source._asdict() if isinstance(source, CustomerGroup) else source
    values: dict[str, Any] = {}
    for spec in EDITABLE:
        value = columns[spec.column]
        values[spec.wire] = _shown(value) if spec.kind != "boolean" else bool(value)
    return values


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _body(form: dict[str, str]) -> dict[str, object]:
    """The CustomerGroup object a form describes: the JSON the API would receive."""
    body: dict[str, object] = {}
    for spec in EDITABLE:
        body[spec.wire] = spec.wire in form if spec.kind == "boolean" else form.get(spec.wire, "")
    return body


def _form_page(
    request: Request,
    session: Session,
    store: StoreRow,
    *,
    values: dict[str, Any],
    group_id: int | None,
    status: int = 200,
    error: Invalid | None = None,
) -> Response:
    return web.page(
        request,
        "group_form.html",
        status,
        session=session,
        store=store,
        fields=EDITABLE,
        values=values,
        group_id=group_id,
        errors=dict(error.fields) if error else {},
        summary=error.message if error else "",
        kind=_kind,
    )


def _kind(spec: FieldSpec) -> str:
    return spec.kind


@web.signed_in
async def new_group(request: Request, session: Session) -> Response:
    store = await _store(request)
    if request.method == "GET":
        defaults = web.console(request).groups.defaults()
        return _form_page(request, session, store, values=_form_values(defaults), group_id=None)
    form: dict[str, str] = request.state.form
    body = _body(form)
    try:
        group_id = await web.console(request).groups.create(principal=_by_operator(store, session), body=body)
    except Invalid as exc:
        return _form_page(request, session, store, values=body, group_id=None, status=400, error=exc)
    return web.redirect(f"{web.PREFIX}/stores/{store.id}/groups?created={group_id}")


@web.signed_in
async def edit_group(request: Request, session: Session) -> Response:
    store = await _store(request)
    group_id = web.parse_id(request.path_params["group_id"])
    groups = web.console(request).groups
    if request.method == "GET":
        group = await groups.get(store_id=store.id, group_id=group_id)
        return _form_page(request, session, store, values=_form_values(group), group_id=group_id)
    body = _body(request.state.form)
    try:
        await groups.update(principal=_by_operator(store, session), group_id=group_id, body=body)
    except Invalid as exc:
        return _form_page(request, session, store, values=body, group_id=group_id, status=400, error=exc)
    return web.redirect(f"{web.PREFIX}/stores/{store.id}/groups?updated={group_id}")


@web.signed_in
async def delete_group(request: Request, session: Session) -> Response:
    """A group's delete: the page says how many members would be put in no group (or, with the
    setting safe_group_delete, that the group is kept while it has any: the delete's 400)."""
    store = await _store(request)
    group_id = web.parse_id(request.path_params["group_id"])
    if request.method == "POST":
        try:
            await web.console(request).groups.delete(
                principal=_by_operator(store, session), group_id=group_id
            )
        except Invalid as exc:
            return await _delete_page(request, session, store, group_id, status=400, problem=exc.message)
        return web.redirect(f"{web.PREFIX}/stores/{store.id}/groups?deleted={group_id}")
    return await _delete_page(request, session, store, group_id)


async def _delete_page(
    request: Request,
    session: Session,
    store: StoreRow,
    group_id: int,
    *,
    status: int = 200,
    problem: str = "",
) -> Response:
    console = web.console(request)
    group = await console.groups.get(store_id=store.id, group_id=group_id)
    customers = console.customers
    members = await customers.count_members(store_id=store.id, group_id=group_id, page=customers.page_of({}))
    return web.page(
        request,
        "group_delete.html",
        status,
        session=session,
        store=store,
        group=group,
        members=members,
        safe_delete=console.groups.safe_delete,
        problem=problem,
    )
