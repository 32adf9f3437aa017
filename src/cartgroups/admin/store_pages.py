"""What a store's pages share (the groups' in admin/groups.py, the customers' in
admin/customers.py): the store the URL names, the operator a change is recorded as, a table's
search, sort and page from the query string, the notice a change's redirect carries, and how a
form shows a stored value and reads a submitted one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cartgroups.admin import web
from cartgroups.errors import NotFound
from cartgroups.model import FieldSpec
from cartgroups.offloop import off_loop
from cartgroups.service.credentials import Principal
from cartgroups.service.operators import Session
from cartgroups.service.stores import Page, StoreRow
from cartgroups.service.validation import ascii_whole, is_clean_text

PAGE_SIZE = 50
SEARCH_MAX = 150
NO_STORE = "No such store."

# What a search that cannot match finds (see search_asked): nothing, on one page.
NOTHING: Page[Any] = Page([], 0, 1, 1)


def page_asked(request: Request) -> int:
    """The page number in the query (the service clamps it to the pages there are); a bad
    number means page 1."""
    raw = request.query_params.get("page")
    asked = ascii_whole(raw, 9) if raw else None
    return 1 if asked is None else asked


def search_asked(request: Request) -> tuple[str, bool]:
    """The search text, and whether stored text can contain it at all: no store address, group
    name or customer holds a NUL or a lone surrogate (the API refuses them; PostgreSQL cannot
    even take them as a parameter), so such a search matches nothing, without asking the
    database."""
    query = request.query_params.get("q", "").strip()[:SEARCH_MAX]
    return query, is_clean_text(query)


@dataclass(frozen=True, slots=True)
class TableAsked:
    """What the query string asks of a store's searchable, sortable table: the search text (and
    whether it can match at all), the sort (one the table offers; "id" otherwise), its
    direction, and the page."""

    q: str
    matchable: bool
    sort: str
    descending: bool
    number: int

    def shown(self, sort_labels: Mapping[str, str], found: Page[Any]) -> dict[str, Any]:
        """The template variables of the table's search form, sort links and pager."""
        return {
            "q": self.q,
            "sort": self.sort,
            "descending": self.descending,
            "sort_labels": sort_labels,
            "paging": found,
        }


def table_asked(request: Request, sorts: Iterable[str]) -> TableAsked:
    query, matchable = search_asked(request)
    sort = request.query_params.get("sort", "id")
    if sort not in sorts:
        sort = "id"
    descending = request.query_params.get("dir") == "desc"
    return TableAsked(query, matchable, sort, descending, page_asked(request))


def by_operator(store: StoreRow, session: Session) -> Principal:
    """Who a console change is recorded as in the audit log: the signed-in operator, as the
    application "admin:<username>", with no token."""
    return Principal(
        store.id, store.secure_url, can_read=True, can_write=True, application=f"admin:{session.username}"
    )


async def store_asked(request: Request) -> StoreRow:
    """The store the URL names (NotFound when none); Stores is synchronous, so off the loop."""
    store_id = web.parse_id(request.path_params["store_id"])
    store = await off_loop(web.console(request).stores.get, store_id)
    if store is None:
        raise NotFound(NO_STORE)
    return store


def done(store: StoreRow, page: str, notice: str, item_id: int) -> Response:
    """After a change, back to one of the store's pages (``page``: "groups", "customers",
    "groups/5"), with the notice ``notice_shown`` reads there."""
    return web.redirect(f"{web.PREFIX}/stores/{store.id}/{page}?{notice}={item_id}")


def notice_shown(request: Request, notices: Mapping[str, str]) -> str:
    """The notice a change's redirect (see done) asks the page to show: the text of the first
    key of ``notices`` the query has with an id, the id put in; "" when none."""
    for key, text in notices.items():
        raw = request.query_params.get(key, "")
        if raw.isdigit() and len(raw) <= 10:
            return text.format(raw)
    return ""


# The forms: one input per field, named by its wire name.


def shown(value: object) -> str:
    """A stored value as a form's text box shows it (None as an empty box)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def form_values(specs: Iterable[FieldSpec], value_of: Callable[[FieldSpec], object]) -> dict[str, Any]:
    """What a form shows of stored values, by wire name: a checkbox's state, a text box's text."""
    values: dict[str, Any] = {}
    for spec in specs:
        value = value_of(spec)
        values[spec.wire] = bool(value) if spec.kind == "boolean" else shown(value)
    return values


def submitted(specs: Iterable[FieldSpec], form: Mapping[str, str]) -> dict[str, Any]:
    """A form as sent, by wire name: whether a checkbox was ticked, a text box's text ("" when
    the form lacks it)."""
    values: dict[str, Any] = {}
    for spec in specs:
        values[spec.wire] = spec.wire in form if spec.kind == "boolean" else form.get(spec.wire, "")
    return values


def kind(spec: FieldSpec) -> str:
    """A field's kind, for the form templates to choose its input."""
    return spec.kind
