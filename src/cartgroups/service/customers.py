"""Customers (issue #18; shared/spec/customers.md): paging with filters, create, partial update,
bulk update and delete, per store; and a group's members.

Rules where the live docs are silent are the spec's D1-D9:
- ids per store from 1, never reused; a CustomerID in a POST body is ignored (D1);
- Email required on create and unique in the store, compared trimmed and in any case (D2);
- CustomerGroupID 0 or a group of the same store, held until the write commits so that it
  cannot be deleted meanwhile (D3);
- text never set is null, "" is "" (D4);
- Password write-only, kept as a salted scrypt hash made off the event loop; empty, null or
  absent on an update keeps it (D5);
- TotalStoreCredit read-only: a value sent is ignored (D6);
- limit 0 or absent is 10, filters combine with AND, dates in the store's time zone (D7);
- a hidden last-update time, set by every change (D8).

Every change is recorded in the audit log (resource "Customer") inside its transaction; the
audit entry is the customer's wire JSON, whose Password is always "".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from cartgroups.customer_model import (
    CUSTOMER_GROUP_ID,
    CUSTOMER_ID,
    EMAIL,
    PASSWORD,
    TEXT_FILTERS,
    WRITABLE,
    Customer,
    filter_key,
    with_customer_values,
)
from cartgroups.errors import Invalid, NotFound
from cartgroups.service import customer_audit, validation
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import (
    LIMIT_DEFAULT,
    OFFSET_PAST_END,
    ItemResult,
    Outcome,
    actor_of,
    parse_page,
    shown_id,
)
from cartgroups.service.operators import hash_password
from cartgroups.service.writes import Alone, Plan, Store, Transaction
from cartgroups.storage.customers import CustomerQuery, EmailTaken

T = TypeVar("T")

NOT_FOUND = "The Customer record was not found."
NO_CUSTOMERS = "No Customer records found."
SOME_NOT_FOUND = "One or more Customer records were not found."
NO_MEMBERS = "The Customer Group was not found and/or contains no customer records."
EMAIL_TAKEN = "Email is already used by another customer of this store"
NO_SUCH_GROUP = "CustomerGroupID must be 0 or a customer group of this store (there is no group {})"

DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
BAD_DATE = "{} must be a date and time as mm/dd/yyyy hh:mm:ss (24-hour clock) or a date as mm/dd/yyyy"


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """The query of a customer list, validated: paging (``offset`` 1-based) and filters."""

    query: CustomerQuery
    limit: int = LIMIT_DEFAULT
    offset: int = 1
    count_only: bool = False


def parse_customer_page(params: Mapping[str, str], zone: ZoneInfo) -> CustomerPage:
    """The list parameters (names lower-cased) as the live API reads them (§3, D7): absent or
    empty means default; limit 0 means 10; text filters trimmed and case-folded; dates read in
    ``zone``. Every problem is an Invalid."""
    texts: dict[str, Any] = {}
    for name in TEXT_FILTERS:
        value = params.get(name, "")
        if value.strip():
            if not validation.is_clean_text(value):
                raise Invalid(f"{name} must be valid Unicode text without NUL characters")
            texts[name] = filter_key(value)
    query = CustomerQuery(
        **texts,
        updated_from=_when(params.get("lastupdatestart", ""), "lastupdatestart", zone),
        updated_to=_when(params.get("lastupdateend", ""), "lastupdateend", zone),
    )
    paging = parse_page(params.get("limit"), params.get("offset"), params.get("countonly"), zero_limit=True)
    return CustomerPage(query, paging.limit, paging.offset, paging.count_only)


def _when(text: str, name: str, zone: ZoneInfo) -> float | None:
    """A lastupdate bound as seconds since the epoch; mm/dd/yyyy alone is its 00:00:00."""
    text = text.strip()
    if not text:
        return None
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=zone).timestamp()
        except ValueError:
            continue
    raise Invalid(BAD_DATE.format(name), value=text[:100])


@dataclass(frozen=True, slots=True)
class _Checked:
    """One customer object of a request, checked: its stored column values and its new
    password's hash (None: keep it, or none on create)."""

    values: dict[str, object]
    password_hash: str | None


class Customers:
    def __init__(self, store: Store, *, max_bulk_items: int, zone: ZoneInfo | None = None) -> None:
        self.store = store
        self.max_bulk_items = max_bulk_items
        self.zone = zone or ZoneInfo("UTC")

    async def run(self, plan: Plan[T]) -> T:
        return await self.store.write(plan)

    # --- reads

    async def get(self, *, store_id: int, customer_id: int) -> Customer:
        customer = await self.store.customers.get(store_id=store_id, customer_id=customer_id)
        if customer is None:
            raise NotFound(NOT_FOUND, value=str(customer_id))
        return customer

    async def get_json(self, *, store_id: int, customer_id: int) -> bytes:
        """get(), already written as the API's one-element JSON array by the store."""
        body = await self.store.customers.get_json(store_id=store_id, customer_id=customer_id)
        if body is None:
            raise NotFound(NOT_FOUND, value=str(customer_id))
        return body

    def page_of(self, params: Mapping[str, str]) -> CustomerPage:
        return parse_customer_page(params, self.zone)

    async def count(self, *, store_id: int, page: CustomerPage) -> int:
        return await self.store.customers.count(store_id=store_id, query=page.query)

    async def page(self, *, store_id: int, page: CustomerPage) -> list[Customer]:
        """One page in ascending id order. Nothing matches: NotFound; a page past the end: Invalid."""
        found = await self._page(store_id, page)
        if not found:
            await self._no_page(store_id, page, NO_CUSTOMERS)
        return found

    async def members(self, *, store_id: int, group_id: int, page: CustomerPage) -> list[Customer]:
        """A page of the group's members: NotFound when the group does not exist or no member
        matches (§5); a page past the end of them: Invalid. Group 0 is no group: NotFound, not
        the customers in no group."""
        if group_id < 1:
            raise NotFound(NO_MEMBERS, value=str(group_id))
        page = _in_group(page, group_id)
        found = await self._page(store_id, page)
        if not found:
            await self._no_members(store_id, group_id, page)
        return found

    async def count_members(self, *, store_id: int, group_id: int, page: CustomerPage) -> int:
        """countonly of a group's members: 404 for a missing group, else the count, 0 too."""
        if await self.store.get_group(store_id=store_id, group_id=group_id) is None:
            raise NotFound(NO_MEMBERS, value=str(group_id))
        return await self.count(store_id=store_id, page=_in_group(page, group_id))

    async def page_json(self, *, store_id: int, page: CustomerPage) -> bytes:
        """page(), already written as the API's JSON array by the store. The same errors."""
        body, count = await self._page_json(store_id, page)
        if not count:
            await self._no_page(store_id, page, NO_CUSTOMERS)
        return body

    async def members_json(self, *, store_id: int, group_id: int, page: CustomerPage) -> bytes:
        """members(), already written as the API's JSON array by the store. The same errors."""
        if group_id < 1:
            raise NotFound(NO_MEMBERS, value=str(group_id))
        page = _in_group(page, group_id)
        body, count = await self._page_json(store_id, page)
        if not count:
            await self._no_members(store_id, group_id, page)
        return body

    async def _page_json(self, store_id: int, page: CustomerPage) -> tuple[bytes, int]:
        return await self.store.customers.page_json(
            store_id=store_id, query=page.query, limit=page.limit, skip=page.offset - 1
        )

    async def _no_members(self, store_id: int, group_id: int, page: CustomerPage) -> NoReturn:
        if await self.store.get_group(store_id=store_id, group_id=group_id) is None:
            raise NotFound(NO_MEMBERS, value=str(group_id))
        await self._no_page(store_id, page, NO_MEMBERS)

    async def _page(self, store_id: int, page: CustomerPage) -> list[Customer]:
        return await self.store.customers.page(
            store_id=store_id, query=page.query, limit=page.limit, skip=page.offset - 1
        )

    async def _no_page(self, store_id: int, page: CustomerPage, none: str) -> NoReturn:
        if page.offset == 1 or await self.count(store_id=store_id, page=page) == 0:
            raise NotFound(none)
        raise Invalid(OFFSET_PAST_END)

    # --- writes

    async def _checked(self, body: object, *, creating: bool) -> _Checked:
        """Column values from one Customer object (Invalid naming every problem), and the hash
        of a new password, made on a thread: scrypt takes ~0.1 s of CPU."""
        _given, values, problems = validation.object_values(
            body, WRITABLE, entity="Customer", creating=creating
        )
        if problems:
            raise Invalid("; ".join(problems.values()), fields=problems)
        password = values.pop(PASSWORD.column, None)
        hashed = (
            await asyncio.to_thread(hash_password, password)
            if isinstance(password, str) and password
            else None
        )
        return _Checked(values, hashed)

    async def plan_create(self, *, principal: Principal, body: object) -> Plan[int]:
        checked = await self._checked(body, creating=True)
        store_id, actor = principal.store_id, actor_of(principal)

        async def write(tx: Transaction) -> int:
            try:
                customer_id = await tx.customers.create_recorded(
                    store_id=store_id,
                    actor=actor,
                    values=checked.values,
                    password_hash=checked.password_hash,
                    now=time.time(),
                )
            except EmailTaken:
                raise _email_taken() from None
            if customer_id is None:
                raise _no_such_group(checked.values[CUSTOMER_GROUP_ID.column])
            return customer_id

        # One Tx call: PostgreSQL's store makes it one statement, in autocommit.
        return Alone(write)

    async def plan_update(self, *, principal: Principal, customer_id: int, body: object) -> Plan[None]:
        """Partial update: the properties present are changed; a CustomerID in the body is ignored."""
        checked = await self._checked(body, creating=False)
        store_id, actor = principal.store_id, actor_of(principal)

        async def write(tx: Transaction) -> None:
            before = await tx.customers.get_for_update(store_id=store_id, customer_id=customer_id)
            if before is None:
                raise NotFound(NOT_FOUND, value=str(customer_id))
            try:
                after = await _change(tx, store_id, before, checked, bulk=False)
            except EmailTaken:
                raise _email_taken() from None
            await tx.record_entries(
                [customer_audit.entry(store_id, actor, "update", customer_id, before, after)]
            )

        return write

    async def plan_bulk_update(self, *, principal: Principal, body: object) -> Plan[list[ItemResult]]:
        """Update many customers; one result per item, in request order. Invalid items are
        reported and skipped; the others are written in ascending id order."""
        if not isinstance(body, list):
            raise Invalid("The request body must be a JSON array of Customer objects")
        if not body:
            raise Invalid("The request body must contain at least one Customer")
        if len(body) > self.max_bulk_items:
            raise Invalid(f"A bulk update takes at most {self.max_bulk_items} items (got {len(body)})")
        results: list[ItemResult | None] = [None] * len(body)
        planned: list[tuple[int, int, _Checked]] = []
        for position, item in enumerate(body):
            if not isinstance(item, dict):
                results[position] = ItemResult(
                    Outcome.INVALID, "", "Each item must be a JSON object (a Customer)"
                )
                continue
            folded = validation.fold(item)
            try:
                customer_id = validation.bulk_item_id(folded, CUSTOMER_ID)
                checked = await self._checked(folded, creating=False)
            except Invalid as exc:
                results[position] = ItemResult(
                    Outcome.INVALID, shown_id(folded.get(CUSTOMER_ID.key)), exc.message
                )
                continue
            planned.append((customer_id, position, checked))
        planned.sort(key=lambda p: p[0])
        store_id, actor = principal.store_id, actor_of(principal)

        async def write(tx: Transaction) -> list[ItemResult]:
            outcome = list(results)
            if planned:
                current = await tx.customers.get_many_for_update(
                    store_id=store_id, customer_ids=[p[0] for p in planned]
                )
                entries = []
                for customer_id, position, checked in planned:
                    before = current.get(customer_id)
                    if before is None:
                        outcome[position] = ItemResult(Outcome.NOT_FOUND, str(customer_id), SOME_NOT_FOUND)
                        continue
                    try:
                        after = await _change(tx, store_id, before, checked, bulk=True)
                    except EmailTaken:  # taken at this moment by another transaction: not checked
                        raise _email_taken() from None  # above, and the transaction is spoiled
                    except Invalid as exc:
                        outcome[position] = ItemResult(Outcome.INVALID, str(customer_id), exc.message)
                        continue
                    current[customer_id] = after
                    entries.append(
                        customer_audit.entry(store_id, actor, "update", customer_id, before, after, bulk=True)
                    )
                    outcome[position] = ItemResult(Outcome.UPDATED, str(customer_id), "updated successfully")
                await tx.record_entries(entries)
            return [r for r in outcome if r is not None]

        return write

    def plan_delete(self, *, principal: Principal, customer_id: int) -> Plan[None]:
        """Deleting a customer never touches groups (D3)."""
        store_id, actor = principal.store_id, actor_of(principal)

        async def write(tx: Transaction) -> None:
            before = await tx.customers.delete(store_id=store_id, customer_id=customer_id)
            if before is None:
                raise NotFound(NOT_FOUND, value=str(customer_id))
            await tx.record_entries(
                [customer_audit.entry(store_id, actor, "delete", customer_id, before, None)]
            )

        return write

    async def create(self, *, principal: Principal, body: object) -> int:
        return await self.run(await self.plan_create(principal=principal, body=body))

    async def update(self, *, principal: Principal, customer_id: int, body: object) -> None:
        await self.run(await self.plan_update(principal=principal, customer_id=customer_id, body=body))

    async def delete(self, *, principal: Principal, customer_id: int) -> None:
        await self.run(self.plan_delete(principal=principal, customer_id=customer_id))


def _in_group(page: CustomerPage, group_id: int) -> CustomerPage:
    return CustomerPage(
        CustomerQuery(**{**page.query.params(), "group_id": group_id}),
        page.limit,
        page.offset,
        page.count_only,
    )


async def _check_links(
    tx: Transaction,
    store_id: int,
    values: Mapping[str, object],
    *,
    customer_id: int | None,
    check_email: bool,
    current_group: int = 0,
) -> None:
    """CustomerGroupID 0 or a group of the store, held until the transaction ends (D3), and
    with ``check_email``, Email free in the store but for this customer (D2). Invalid otherwise.

    A write of one customer leaves the e-mail to the store's unique index (EmailTaken, one
    statement less); a bulk update asks first, so that one item's taken e-mail fails that item
    only (on PostgreSQL a failed statement ends the whole transaction).

    The customer's ``current_group`` is not held again: the customer's row, locked by this
    transaction, already orders it against that group's delete, which updates the row (D3).
    Holding the group too would take the two locks in the other order than the delete and
    deadlock with it on PostgreSQL (a GET-modify-PUT sends the group unchanged)."""
    email = values.get(EMAIL.column)
    if check_email and isinstance(email, str):
        owner = await tx.customers.email_owner(store_id=store_id, email=email)
        if owner is not None and owner != customer_id:
            raise _email_taken()
    group_id = values.get(CUSTOMER_GROUP_ID.column)
    if (
        isinstance(group_id, int)
        and group_id not in (0, current_group)
        and not await tx.customers.hold_group(store_id=store_id, group_id=group_id)
    ):
        raise _no_such_group(group_id)


def _no_such_group(group_id: object) -> Invalid:
    message = NO_SUCH_GROUP.format(group_id)
    return Invalid(message, fields={CUSTOMER_GROUP_ID.wire: message})


def _email_taken() -> Invalid:
    return Invalid(EMAIL_TAKEN, fields={EMAIL.wire: EMAIL_TAKEN})


async def _change(
    tx: Transaction, store_id: int, before: Customer, checked: _Checked, *, bulk: bool
) -> Customer:
    """Write one checked update to a customer read for update; the customer as it is after.
    Invalid when it breaks D2 or D3 (checked first, nothing written); EmailTaken when another
    transaction took the e-mail at the same moment (then the transaction cannot go on)."""
    values = checked.values
    await _check_links(
        tx,
        store_id,
        values,
        customer_id=before.customer_id,
        check_email=bulk,
        current_group=before.customer_group_id,
    )
    await tx.customers.update(
        store_id=store_id,
        customer_id=before.customer_id,
        values=values,
        password_hash=checked.password_hash,
        now=time.time(),
    )
    return with_customer_values(before, values)
