"""CustomerGroups: paging, create, partial update, bulk update and delete, per store."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from cartgroups.errors import Invalid, NotFound, PreconditionFailed
from cartgroups.model import EDITABLE, ID, CustomerGroup, with_values
from cartgroups.service import customer_audit, validation
from cartgroups.service.credentials import Principal
from cartgroups.service.writes import Alone, Plan, Store, Transaction
from cartgroups.storage import audit as audit_sql
from cartgroups.storage.audit import Change

GROUP_NOT_FOUND = "The specified Customer Group does not exist."
NO_GROUPS = "There are no Customer Groups."
OFFSET_PAST_END = "Offset amount exceeds the total number of records"
HAS_MEMBERS = (
    "The Customer Group has {} customer(s); this server keeps groups that have customers (safe "
    "group delete): move them to another group or to none first"
)
CHANGED = "The Customer Group has changed since it was read: If-Match does not match its current ETag"

# Asked, inside the write transaction, whether the group as it is now may be changed (If-Match).
Precondition = Callable[[CustomerGroup], bool]
T = TypeVar("T")

LIMIT_DEFAULT, LIMIT_MAX = 10, 500
OFFSET_MAX = (ID.maximum or 0) + 1


@dataclass(frozen=True, slots=True)
class Page:
    """Query parameters of a list request, validated. ``offset`` is the 1-based record index."""

    limit: int = LIMIT_DEFAULT
    offset: int = 1
    count_only: bool = False


def parse_page(
    limit: str | None, offset: str | None, countonly: str | None, *, zero_limit: bool = False
) -> Page:
    """Read ``limit``, ``offset`` and ``countonly`` as the live API does; absent or empty means
    default. ``zero_limit``: a limit of 0 means the default too (Customers, D7)."""
    count_only = False
    if countonly:
        flag = {"0": False, "1": True, "false": False, "true": True}.get(countonly.lower())
        if flag is None:
            raise Invalid("countonly must be 0 or 1")
        count_only = flag
    if count_only:
        return Page(count_only=True)  # limit and offset are ignored, even when malformed
    size = LIMIT_DEFAULT
    if limit:
        parsed = validation.as_integer(limit)
        if zero_limit:
            if parsed is None or not 0 <= parsed <= LIMIT_MAX:
                raise Invalid(f"limit must be an integer from 0 to {LIMIT_MAX} (0 means {LIMIT_DEFAULT})")
            parsed = parsed or LIMIT_DEFAULT
        size = parsed or 0
        if not 1 <= size <= LIMIT_MAX:
            raise Invalid(f"limit must be an integer from 1 to {LIMIT_MAX}")
    start = 1
    if offset:
        parsed = validation.as_integer(offset)
        if parsed is None or parsed < 0:
            raise Invalid("offset must be a whole number; the first record is 1")
        # 0 is taken as 1; no store holds more rows than ids exist, so larger is just "past the end".
        start = min(max(parsed, 1), OFFSET_MAX)
    return Page(limit=size, offset=start)


class Outcome(enum.Enum):
    UPDATED = "updated"
    NOT_FOUND = "not found"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item of a bulk update. ``value`` is the id as the client sent it."""

    outcome: Outcome
    value: str
    message: str


def shown_id(raw: object) -> str:
    """The id an invalid bulk item named, as JSON wrote it (``true``, not Python's ``True``)."""
    if raw is None or isinstance(raw, dict | list):
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def created_group(group_id: int, values: Mapping[str, object]) -> CustomerGroup:
    """The group a create with these column values (validation.group_values) stored."""
    return CustomerGroup._make((group_id, *(values[f.column] for f in EDITABLE)))


def actor_of(principal: Principal) -> audit_sql.Actor:
    """Who a request's change is recorded as in the audit log: its token and application."""
    return audit_sql.Actor(principal.token_id, principal.application)


class CustomerGroups:
    """Every change is recorded in the audit log inside the transaction that makes it: a change
    that is rolled back leaves no entry, and an entry that cannot be written rolls the change back.

    The database is reached through its store (storage/store.py), one interface whichever the
    database: reads and writes are awaited, and a write is a plan that the store runs in a
    transaction it passes to the plan."""

    def __init__(
        self,
        store: Store,
        *,
        max_bulk_items: int,
        price_level_1_to_10: bool = False,
        safe_delete: bool = False,
    ) -> None:
        self.store = store
        # The setting safe_group_delete: a group that has customers is not deleted (400).
        self.safe_delete = safe_delete
        self.max_bulk_items = max_bulk_items
        # The setting of that name: PriceLevel only 1 to 10, as in the store's UI (validation.group_values).
        self.price_level_1_to_10 = price_level_1_to_10

    def values(self, body: object, *, creating: bool) -> dict[str, object]:
        """Column values from one CustomerGroup object, under this server's rules (Invalid)."""
        return validation.group_values(body, creating=creating, price_level_1_to_10=self.price_level_1_to_10)

    def defaults(self) -> dict[str, object]:
        """The column values a create takes for the fields it is not given, under this server's rules."""
        return validation.create_defaults(price_level_1_to_10=self.price_level_1_to_10)

    async def run(self, plan: Plan[T]) -> T:
        """A plan in a write transaction of the store's (SQLite: the process's next group commit)."""
        return await self.store.write(plan)

    async def create(self, *, principal: Principal, body: object) -> int:
        return await self.run(self.plan_create(principal=principal, body=body))

    def plan_create(self, *, principal: Principal, body: object) -> Plan[int]:
        """Check the body now (Invalid); the plan returned writes the group and its audit entry in
        the transaction it is given and returns its id."""
        values = self.values(body, creating=True)
        store_id, actor = principal.store_id, actor_of(principal)

        async def write(tx: Transaction) -> int:
            return await tx.create_group(store_id=store_id, actor=actor, values=values)

        return Alone(write)

    async def get(self, *, store_id: int, group_id: int) -> CustomerGroup:
        group = await self.store.get_group(store_id=store_id, group_id=group_id)
        if group is None:
            raise NotFound(GROUP_NOT_FOUND, value=str(group_id))
        return group

    async def count(self, *, store_id: int) -> int:
        return await self.store.count_groups(store_id=store_id)

    async def page(self, *, store_id: int, page: Page) -> list[CustomerGroup]:
        """One page in ascending id order. An empty store is NotFound; a page past the end is Invalid."""
        groups = await self.store.list_groups(store_id=store_id, limit=page.limit, skip=page.offset - 1)
        if not groups:
            await self._no_page(store_id)
        return groups

    async def page_json(self, *, store_id: int, page: Page) -> bytes:
        """page(), already written as the API's JSON array by the store. The same errors as
        page()."""
        body, count = await self.store.list_groups_json(
            store_id=store_id, limit=page.limit, skip=page.offset - 1
        )
        if count == 0:
            await self._no_page(store_id)
        return body

    async def _no_page(self, store_id: int) -> NoReturn:
        """Why a page came back empty: the store has no groups (NotFound), or the offset is past them."""
        if await self.store.count_groups(store_id=store_id) == 0:
            raise NotFound(NO_GROUPS)
        raise Invalid(OFFSET_PAST_END)

    async def update(
        self, *, principal: Principal, group_id: int, body: object, precondition: Precondition | None = None
    ) -> None:
        plan = await self.plan_update(
            principal=principal, group_id=group_id, body=body, precondition=precondition
        )
        await self.run(plan)

    async def plan_update(
        self, *, principal: Principal, group_id: int, body: object, precondition: Precondition | None = None
    ) -> Plan[None]:
        """Partial update: the properties present are changed; a CustomerGroupID in the body is ignored.

        The body is checked now (Invalid); the plan returned writes in the transaction it is given
        (on SQLite a batch of the server's, which holds the write lock while it runs: so as much
        as can be is done here, before it).

        With no ``precondition``, the write changes the row and records its before and after in
        the way its store does best (Tx.update_recorded: SQLite writes the entry from the row,
        reading nothing into Python). Otherwise the group is read here, and the change, its audit
        entry and the If-Match ``precondition`` are worked out from that copy; the write then
        changes the row only if it still equals the copy, which proves the copy current. If it
        does not (another write came in between), the write reads the group again, locked, and
        works everything out from that: either way the precondition is checked against the group
        as it is when it changes, and nothing can change it in between.

        An update that names no property (or sets every one to its current value) still is an
        accepted write and is recorded, with equal before and after."""
        values = self.values(body, creating=False)
        store_id, actor = principal.store_id, actor_of(principal)

        async def write_locked(tx: Transaction) -> None:
            before = await tx.get_for_update(store_id=store_id, group_id=group_id)
            if before is None:
                raise NotFound(GROUP_NOT_FOUND, value=str(group_id))
            _check(before, group_id, precondition)
            if values:
                await tx.update_group(store_id=store_id, group_id=group_id, values=values)
            change = Change("update", group_id, before, with_values(before, values))
            await tx.record(store_id=store_id, actor=actor, changes=[change])

        if precondition is None and values:

            async def write_unread(tx: Transaction) -> None:
                if not await tx.update_recorded(
                    store_id=store_id, actor=actor, group_id=group_id, values=values
                ):
                    raise NotFound(GROUP_NOT_FOUND, value=str(group_id))

            return Alone(write_unread)
        seen = await self.store.get_group(store_id=store_id, group_id=group_id)
        if seen is None or not values or (precondition is not None and not precondition(seen)):
            return write_locked  # decided where it is certain: unknown group, no change, or 412
        entry = audit_sql.entry(store_id, actor, Change("update", group_id, seen, with_values(seen, values)))

        async def write(tx: Transaction) -> None:
            if not await tx.update_group_if(store_id=store_id, expected=seen, values=values, entry=entry):
                await write_locked(tx)  # it changed since it was read: again from the row, locked

        return write

    async def bulk_update(self, *, principal: Principal, body: object) -> list[ItemResult]:
        return await self.run(self.plan_bulk_update(principal=principal, body=body))

    def plan_bulk_update(self, *, principal: Principal, body: object) -> Plan[list[ItemResult]]:
        """Update many groups; one result per item, in request order.

        The body is checked now (Invalid when it is not a list of 1 to max_bulk_items). Invalid
        items are reported and skipped; the plan returned writes the valid ones in the
        transaction it is given, in ascending id order (so two concurrent bulk updates cannot
        deadlock each other)."""
        if not isinstance(body, list):
            raise Invalid("The request body must be a JSON array of CustomerGroup objects")
        if not body:
            raise Invalid("The request body must contain at least one CustomerGroup")
        if len(body) > self.max_bulk_items:
            raise Invalid(f"A bulk update takes at most {self.max_bulk_items} items (got {len(body)})")
        results: list[ItemResult | None] = [None] * len(body)
        planned: list[tuple[int, int, dict[str, object]]] = []  # (group id, position, values)
        for position, item in enumerate(body):
            if not isinstance(item, dict):
                message = "Each item must be a JSON object (a CustomerGroup)"
                results[position] = ItemResult(Outcome.INVALID, "", message)
                continue
            folded = validation.fold(item)
            try:
                group_id = validation.bulk_item_id(folded)
                values = self.values(folded, creating=False)
            except Invalid as exc:
                results[position] = ItemResult(Outcome.INVALID, shown_id(folded.get(ID.key)), exc.message)
                continue
            planned.append((group_id, position, values))
        planned.sort(key=lambda plan: plan[0])  # stable: an id named twice is updated in request order
        store_id, actor = principal.store_id, actor_of(principal)

        async def write(tx: Transaction) -> list[ItemResult]:
            outcome = list(results)  # a plan may run more than once (a batch run again)
            if planned:
                current = await tx.get_many_for_update(store_id=store_id, group_ids=[p[0] for p in planned])
                changes: list[Change] = []
                updates: list[tuple[int, dict[str, object]]] = []
                for group_id, position, values in planned:
                    before = current.get(group_id)
                    if before is None:
                        outcome[position] = ItemResult(Outcome.NOT_FOUND, str(group_id), GROUP_NOT_FOUND)
                        continue
                    if values:
                        updates.append((group_id, values))
                    after = current[group_id] = with_values(before, values)
                    changes.append(Change("update", group_id, before, after, bulk=True))
                    outcome[position] = ItemResult(Outcome.UPDATED, str(group_id), "updated successfully")
                await tx.update_groups(store_id=store_id, changes=updates)
                await tx.record(store_id=store_id, actor=actor, changes=changes)
            return [result for result in outcome if result is not None]

        return write

    async def delete(
        self, *, principal: Principal, group_id: int, precondition: Precondition | None = None
    ) -> None:
        await self.run(self.plan_delete(principal=principal, group_id=group_id, precondition=precondition))

    def plan_delete(
        self, *, principal: Principal, group_id: int, precondition: Precondition | None = None
    ) -> Plan[None]:
        """The plan of a delete: it removes the group in the transaction it is given (NotFound,
        or PreconditionFailed when If-Match does not hold for the group as stored), and puts its
        customers in no group (CustomerGroupID 0), each recorded in the audit log (D3). With
        safe_delete, a group that has customers is kept: Invalid, naming how many."""
        store_id, actor, safe = principal.store_id, actor_of(principal), self.safe_delete

        async def write(tx: Transaction) -> None:
            if precondition is not None or safe:
                current = await tx.get_for_update(store_id=store_id, group_id=group_id)
                if current is not None:
                    _check(current, group_id, precondition)
                    members = (
                        await tx.customers.count_members(store_id=store_id, group_id=group_id) if safe else 0
                    )
                    if members:
                        raise Invalid(HAS_MEMBERS.format(members), value=str(group_id))
            if not await tx.delete_recorded(store_id=store_id, actor=actor, group_id=group_id):
                raise NotFound(GROUP_NOT_FOUND, value=str(group_id))
            released = await tx.customers.release_members(
                store_id=store_id, group_id=group_id, now=time.time()
            )
            await tx.record_entries(customer_audit.released(store_id, actor, released))

        return write


def _check(current: CustomerGroup, group_id: int, precondition: Precondition | None) -> None:
    """412 when an If-Match precondition does not hold for the group as stored."""
    if precondition is not None and not precondition(current):
        raise PreconditionFailed(CHANGED, value=str(group_id))
