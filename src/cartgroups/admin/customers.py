"""A store's customers: the customers table (search, sort, pages), the create, edit and delete
forms, and a group's page with its members and the moves into and out of it.

Changes go through service.customers.Customers, the object the 3dcart API uses, so the rules and
messages are the API's (shared/spec/customers.md D1-D9), recorded in the audit log as the
signed-in operator. The list and a group's members come from service.customer_search (a
synchronous service: off the loop), which matches a part of the e-mail or of the name.

The password is write-only: no page ever shows it (nor does the console have it: only its hash
is kept), an empty password field keeps the one there is, and a form shown again after an error
has the field empty. The edit form sends the service only the fields the operator changed, so
that text never set (null) stays null when the form shows it as an empty box (D4).

What these pages share with the groups' (admin/groups.py) is in admin/store_pages.py."""

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
    shown,
    store_asked,
    submitted,
    table_asked,
)
from cartgroups.customer_model import (
    CUSTOMER_GROUP_ID,
    EMAIL,
    PASSWORD,
    STORED,
    Customer,
)
from cartgroups.errors import Invalid, NotFound
from cartgroups.model import CustomerGroup, FieldSpec
from cartgroups.offloop import off_loop
from cartgroups.service.customer_search import CUSTOMER_SORTS
from cartgroups.service.operators import Session
from cartgroups.service.stores import Page, StoreRow
from cartgroups.service.validation import as_integer

SORT_LABELS = {"id": "ID", "email": "Email", "last_name": "Last name"}
# A store with more groups than this gets a number box for the group instead of a list.
GROUP_CHOICES = 500

_BY_WIRE = {spec.wire: spec for spec in STORED}


def _specs(*names: str) -> list[FieldSpec]:
    return [_BY_WIRE[name] for name in names]


def _address(side: str) -> list[FieldSpec]:
    parts = ("Company", "FirstName", "LastName", "Address1", "Address2", "City", "State", "ZipCode")
    names = [f"{side}{part}" for part in (*parts, "Country", "PhoneNumber")]
    if side == "Billing":
        names.append("BillingTaxID")
    else:
        names.append("ShippingAddressType")
    return _specs(*names)


# The form's sections, each a fieldset: every writable field once (Password and CustomerGroupID
# have inputs of their own at the top).
SECTIONS: list[tuple[str, list[FieldSpec]]] = [
    ("Account", _specs("Email")),
    (
        "Settings",
        _specs("Enabled", "MailList", "NonTaxable", "DisableBillingSameAsShipping", "ResetPassword"),
    ),
    ("Billing address", _address("Billing")),
    ("Shipping address", _address("Shipping")),
    ("Notes", _specs("Comments", "AdditionalField1", "AdditionalField2", "AdditionalField3")),
]
assert sorted(s.wire for _, specs in SECTIONS for s in specs) == sorted(
    s.wire for s in STORED if s is not CUSTOMER_GROUP_ID
), "every stored field but the group is in one section"

NOTICES = {
    "created": "Customer {} created.",
    "updated": "Customer {} saved.",
    "unchanged": "Customer {}: nothing was changed.",
    "deleted": "Customer {} deleted.",
    "added": "Customer {} moved into this group.",
    "removed": "Customer {} is now in no group.",
}


def full_name(customer: Customer) -> str:
    return " ".join(p for p in (customer.billing_first_name, customer.billing_last_name) if p)


async def _group_names(request: Request, store: StoreRow) -> dict[int, str] | None:
    """The store's groups by id, for the group list of the form and the names in the tables;
    None when the store has more than GROUP_CHOICES groups."""
    found: Page[CustomerGroup] = await off_loop(
        web.console(request).stores.groups,
        store.id,
        name_contains="",
        sort="name",
        descending=False,
        size=GROUP_CHOICES,
        number=1,
    )
    if found.total > GROUP_CHOICES:
        return None
    return {group.group_id: group.name for group in found.rows}


# --- the customers table


@web.signed_in
async def customer_table(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    asked = table_asked(request, CUSTOMER_SORTS)
    found: Page[Customer] = NOTHING
    if asked.matchable:
        found = await off_loop(
            web.console(request).customer_search.search,
            store.id,
            contains=asked.q,
            sort=asked.sort,
            descending=asked.descending,
            size=PAGE_SIZE,
            number=asked.number,
        )
    return web.page(
        request,
        "customers.html",
        session=session,
        store=store,
        customers=found.rows,
        group_names=await _group_names(request, store) or {},
        full_name=full_name,
        notice=notice_shown(request, NOTICES),
        **asked.shown(SORT_LABELS, found),
    )


# --- the form: one input per writable field, named by its wire name


def _values(customer: Customer | None) -> dict[str, Any]:
    """What the form shows of a customer, or for a new one the defaults. Never a password."""
    if customer is None:
        values = form_values(STORED, lambda spec: spec.default)
    else:
        values = form_values(STORED, lambda spec: getattr(customer, spec.column))
    values[PASSWORD.wire] = ""
    return values


def _submitted(form: Mapping[str, str]) -> dict[str, Any]:
    """The form as sent, to show again after an error (the password field empty)."""
    values = submitted(STORED, form)
    values[PASSWORD.wire] = ""
    return values


def _create_body(form: Mapping[str, str]) -> dict[str, object]:
    """The Customer object a new customer's form describes, as the API would receive it: an
    empty box is a field not given (text stays null, numbers take their default), but Email,
    which is required, is sent as it is."""
    body: dict[str, object] = {}
    password = form.get(PASSWORD.wire, "")
    if password:
        body[PASSWORD.wire] = password
    for spec in STORED:
        if spec.kind == "boolean":
            body[spec.wire] = spec.wire in form
        elif spec is EMAIL or form.get(spec.wire, ""):
            body[spec.wire] = form.get(spec.wire, "")
    return body


def _update_body(form: Mapping[str, str], current: Customer) -> dict[str, object]:
    """A partial update of what the form changed: the fields whose value differs from the
    customer's now (an empty box is no change to a null text), and a password when one is typed."""
    body: dict[str, object] = {}
    password = form.get(PASSWORD.wire, "")
    if password:
        body[PASSWORD.wire] = password
    for spec in STORED:
        now = getattr(current, spec.column)
        if spec.kind == "boolean":
            if (spec.wire in form) != bool(now):
                body[spec.wire] = spec.wire in form
        elif spec.wire in form and form[spec.wire] != shown(now):
            body[spec.wire] = form[spec.wire]
    return body


async def _form_page(
    request: Request,
    session: Session,
    store: StoreRow,
    *,
    values: dict[str, Any],
    customer: Customer | None,
    status: int = 200,
    error: Invalid | None = None,
) -> Response:
    return web.page(
        request,
        "customer_form.html",
        status,
        session=session,
        store=store,
        sections=SECTIONS,
        group_field=CUSTOMER_GROUP_ID,
        password_field=PASSWORD,
        groups=await _group_names(request, store),
        values=values,
        customer=customer,
        cid=customer.customer_id if customer else None,
        errors=dict(error.fields) if error else {},
        summary=error.message if error else "",
        kind=kind,
    )


def _customer_id(request: Request) -> int:
    return web.parse_id(request.path_params["customer_id"])


@web.signed_in
async def new_customer(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    if request.method == "GET":
        values = _values(None)
        group = as_integer(request.query_params.get("group", ""))  # from a group's page
        if group is not None and 0 < group <= web.ID_MAX:
            values[CUSTOMER_GROUP_ID.wire] = str(group)
        return await _form_page(request, session, store, values=values, customer=None)
    form: dict[str, str] = request.state.form
    customers = web.console(request).customers
    try:
        customer_id = await customers.create(principal=by_operator(store, session), body=_create_body(form))
    except Invalid as exc:
        values = _submitted(form)
        return await _form_page(request, session, store, values=values, customer=None, status=400, error=exc)
    return done(store, "customers", "created", customer_id)


@web.signed_in
async def edit_customer(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    customer_id = _customer_id(request)
    customers = web.console(request).customers
    current = await customers.get(store_id=store.id, customer_id=customer_id)
    if request.method == "GET":
        return await _form_page(request, session, store, values=_values(current), customer=current)
    form: dict[str, str] = request.state.form
    body = _update_body(form, current)
    if not body:
        return done(store, "customers", "unchanged", customer_id)
    try:
        await customers.update(principal=by_operator(store, session), customer_id=customer_id, body=body)
    except Invalid as exc:
        values = _submitted(form)
        return await _form_page(
            request, session, store, values=values, customer=current, status=400, error=exc
        )
    return done(store, "customers", "updated", customer_id)


@web.signed_in
async def delete_customer(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    customer_id = _customer_id(request)
    customers = web.console(request).customers
    if request.method == "GET":
        customer = await customers.get(store_id=store.id, customer_id=customer_id)
        return web.page(
            request,
            "customer_delete.html",
            session=session,
            store=store,
            customer=customer,
            name=full_name(customer),
        )
    await customers.delete(principal=by_operator(store, session), customer_id=customer_id)
    return done(store, "customers", "deleted", customer_id)


# --- a group's page: the group, its members, and moves into and out of it

NO_SUCH_CUSTOMER = "No customer of this store has the e-mail or id “{}”."
NOT_A_MEMBER = "Customer {} is not in this group."


async def _group_page(
    request: Request,
    session: Session,
    store: StoreRow,
    group: CustomerGroup,
    *,
    status: int = 200,
    problem: str = "",
    asked: str = "",
) -> Response:
    members: Page[Customer] = await off_loop(
        web.console(request).customer_search.search,
        store.id,
        contains="",
        group_id=group.group_id,
        size=PAGE_SIZE,
        number=page_asked(request),
    )
    return web.page(
        request,
        "group.html",
        status,
        session=session,
        store=store,
        group=group,
        members=members.rows,
        paging=members,
        full_name=full_name,
        notice="" if problem else notice_shown(request, NOTICES),
        problem=problem,
        asked=asked,
    )


async def _group(request: Request, store: StoreRow) -> CustomerGroup:
    group_id = web.parse_id(request.path_params["group_id"])
    return await web.console(request).groups.get(store_id=store.id, group_id=group_id)


@web.signed_in
async def group_page(request: Request, session: Session) -> Response:
    store = await store_asked(request)
    return await _group_page(request, session, store, await _group(request, store))


async def _move(request: Request, session: Session, store: StoreRow, customer_id: int, group_id: int) -> None:
    """Put a customer in a group (0: none) through the API's partial update: its rules (the group
    must exist, D3) and its audit entry."""
    await web.console(request).customers.update(
        principal=by_operator(store, session),
        customer_id=customer_id,
        body={CUSTOMER_GROUP_ID.wire: group_id},
    )


@web.signed_in
async def add_member(request: Request, session: Session) -> Response:
    """Move the customer named by e-mail (exactly, any case) or id into this group."""
    store = await store_asked(request)
    group = await _group(request, store)
    customers = web.console(request).customers
    asked = request.state.form.get("customer", "").strip()[:150]
    problem = NO_SUCH_CUSTOMER.format(asked)
    customer_id = as_integer(asked) if asked.isdigit() else None
    try:
        if customer_id is None:
            if "@" not in asked:
                raise NotFound(problem)
            page = customers.page_of({"email": asked, "limit": "1"})
            [found] = await customers.page(store_id=store.id, page=page)
            customer_id = found.customer_id
        elif not 1 <= customer_id <= web.ID_MAX:
            raise NotFound(problem)
        await _move(request, session, store, customer_id, group.group_id)
    except NotFound:
        return await _group_page(request, session, store, group, status=400, problem=problem, asked=asked)
    except Invalid as exc:  # the e-mail cannot be one, or the group went meanwhile
        problem = problem if customer_id is None else exc.message
        return await _group_page(request, session, store, group, status=400, problem=problem, asked=asked)
    return done(store, f"groups/{group.group_id}", "added", customer_id)


@web.signed_in
async def remove_member(request: Request, session: Session) -> Response:
    """Put a member of this group in no group."""
    store = await store_asked(request)
    group = await _group(request, store)
    customer_id = _customer_id(request)
    customer = await web.console(request).customers.get(store_id=store.id, customer_id=customer_id)
    if customer.customer_group_id != group.group_id:
        problem = NOT_A_MEMBER.format(customer_id)
        return await _group_page(request, session, store, group, status=400, problem=problem)
    await _move(request, session, store, customer_id, 0)
    return done(store, f"groups/{group.group_id}", "removed", customer_id)
