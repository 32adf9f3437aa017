"""Stores and their customer groups: the stores list, a store's groups table, and the
create, edit and delete forms. Writes go through service.customer_groups.CustomerGroups, the
same object the 3dcart API uses, so the rules and messages are the API's. What these pages share
with the customers' (admin/customers.py) is in admin/store_pages.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cartgroups.admin import web
from cartgroups.admin.store_pages import (
    NOTHING,
    PAGE_SIZE,
    by_operator,
    done,
    form_values,
    kind,
    notice_shown,
    page_asked,
    search_asked,
    store_asked,
    submitted,
    table_asked,
)
from cartgroups.errors import Invalid
from cartgroups.model import EDITABLE, CustomerGroup
from cartgroups.offloop import off_loop
from cartgroups.service.operators import Session
from cartgroups.service.stores import GROUP_SORTS, Page, StoreRow

SORT_LABELS = {"id": "ID", "name": "Name", "price_level": "Price level"}
NOTICES = {"created": "Group {} created.", "updated": "Group {} saved.", "deleted": "Group {} deleted."}


@web.signed_in
async def home(request: Request, session: Session) -> Response:
    return web.redirect(f"{web.PREFIX}/stores")


@web.signed_in
async def stores(request: Request, session: Session) -> Response:
    query, matchable = search_asked(request)
    found: Page[StoreRow] = NOTHING
    if matchable:
        found = await off_loop(
            web.console(request).stores.search, contains=query, size=PAGE_SIZE, number=page_asked(request)
        )
    return web.page(request, "stores.html", session=session, stores=found.rows, q=query, paging=found)


@web.signed_in
async def group_table(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    asked = table_asked(request, GROUP_SORTS)
    found: Page[CustomerGroup] = NOTHING
    if asked.matchable:
        found = await off_loop(
            web.console(request).stores.groups,
            store.id,
            name_contains=asked.q,
            sort=asked.sort,
            descending=asked.descending,
            size=PAGE_SIZE,
            number=asked.number,
        )
    return web.page(
        request,
        "groups.html",
        session=session,
        store=store,
        groups=found.rows,
        notice=notice_shown(request, NOTICES),
        **asked.shown(SORT_LABELS, found),
    )


# The form: one input per editable field of model.EDITABLE, named by its wire name.


def _form_values(source: CustomerGroup | Mapping[str, object]) -> dict[str, Any]:
    """What the form shows: a group's values, or for a new one the server's defaults (by column)."""
    columns = source._asdict() if isinstance(source, CustomerGroup) else source
    return form_values(EDITABLE, lambda spec: columns[spec.column])


def _body(form: Mapping[str, str]) -> dict[str, object]:
    """The CustomerGroup object a form describes: the JSON the API would receive."""
    return submitted(EDITABLE, form)


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
        kind=kind,
    )


@web.signed_in
async def new_group(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    if request.method == "GET":
        defaults = web.console(request).groups.defaults()
        return _form_page(request, session, store, values=_form_values(defaults), group_id=None)
    form: dict[str, str] = request.state.form
    body = _body(form)
    try:
        group_id = await web.console(request).groups.create(principal=by_operator(store, session), body=body)
    except Invalid as exc:
        return _form_page(request, session, store, values=body, group_id=None, status=400, error=exc)
    return done(store, "groups", "created", group_id)


@web.signed_in
async def edit_group(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    group_id = web.parse_id(request.path_params["group_id"])
    groups = web.console(request).groups
    if request.method == "GET":
        group = await groups.get(store_id=store.id, group_id=group_id)
        return _form_page(request, session, store, values=_form_values(group), group_id=group_id)
    body = _body(request.state.form)
    try:
        await groups.update(principal=by_operator(store, session), group_id=group_id, body=body)
    except Invalid as exc:
        return _form_page(request, session, store, values=body, group_id=group_id, status=400, error=exc)
    return done(store, "groups", "updated", group_id)


@web.signed_in
async def delete_group(request: Request, session: Session) -> Response:
    """A group's delete: the page says how many members would be put in no group (or, with the
    setting safe_group_delete, that the group is kept while it has any: the delete's 400)."""
    store = await store_asked(request)
    group_id = web.parse_id(request.path_params["group_id"])
    if request.method == "POST":
        try:
            await web.console(request).groups.delete(principal=by_operator(store, session), group_id=group_id)
        except Invalid as exc:
            return await _delete_page(request, session, store, group_id, status=400, problem=exc.message)
        return done(store, "groups", "deleted", group_id)
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
