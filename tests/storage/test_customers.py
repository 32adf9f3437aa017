"""CustomerReads and CustomerWrites (storage/customers.py) through the request path's store
(open_store), on SQLite and on PostgreSQL: ids, e-mail uniqueness by filter key, the filters,
a group's members and their release, and holding a group."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TypeVar

import pytest
import sqlalchemy as sa

from cartgroups.customer_model import STORED, Customer, created_customer
from cartgroups.storage import tables
from cartgroups.storage.audit import Actor
from cartgroups.storage.customers import CustomerQuery, EmailTaken
from cartgroups.storage.database import Database
from cartgroups.storage.store import Plan, Store, Tx, open_store
from tests.storage.conftest import group_values, new_store, run_on_store

T = TypeVar("T")
ACTOR = Actor(7, "tests")


@pytest.fixture
def store(db: Database) -> Iterator[Store]:
    yield open_store(db)


def customer_values(email: str, **overrides: object) -> dict[str, object]:
    """Every stored column of a customer, with the defaults a POST fills in."""
    values: dict[str, object] = {f.column: f.default for f in STORED}
    values["email"] = email
    values.update(overrides)
    return values


def create(
    store_id: int, email: str, *, password_hash: str | None = None, now: float = 1000.0, **fields: object
) -> Plan[int]:
    """A plan creating one customer; its id."""

    async def plan(tx: Tx) -> int:
        return await tx.customers.create(
            store_id=store_id, values=customer_values(email, **fields), password_hash=password_hash, now=now
        )

    return plan


def update(
    store_id: int,
    customer_id: int,
    values: dict[str, object],
    *,
    password_hash: str | None = None,
    now: float = 2000.0,
) -> Plan[None]:
    """A plan updating one customer's columns."""

    async def plan(tx: Tx) -> None:
        await tx.customers.update(
            store_id=store_id, customer_id=customer_id, values=values, password_hash=password_hash, now=now
        )

    return plan


def stored_rows(db: Database) -> list[tuple[object, ...]]:
    c = tables.customers.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                c.store_id, c.customer_id, c.email, c.email_key, c.password_hash, c.updated_at
            ).order_by(c.store_id, c.customer_id)
        ).all()
    return [tuple(row) for row in rows]


def test_ids_start_at_1_and_are_never_reused_after_deleting_the_highest(db: Database, store: Store) -> None:
    one, two = new_store(db, "one.example"), new_store(db, "two.example")

    async def scenario() -> list[int]:
        ids: list[int] = [await store.write(create(one, f"{n}@example.com")) for n in range(3)]

        async def delete(tx: Tx) -> Customer | None:
            return await tx.customers.delete(store_id=one, customer_id=3)

        gone = await store.write(delete)
        assert gone is not None and gone.email == "2@example.com"
        assert await store.write(delete) is None
        ids.append(await store.write(create(one, "again@example.com")))
        ids.append(await store.write(create(two, "0@example.com")))  # per store
        assert await store.customers.get(store_id=one, customer_id=3) is None
        return ids

    assert run_on_store(store, scenario) == [1, 2, 3, 4, 1]


def test_a_create_is_read_back_as_created_with_defaults(db: Database, store: Store) -> None:
    store_id = new_store(db, "one.example")
    values = customer_values(
        "Jane@Example.com", billing_city="", comments="note", enabled=True, shipping_address_type=-5
    )

    async def scenario() -> Customer | None:
        async def plan(tx: Tx) -> int:
            return await tx.customers.create(store_id=store_id, values=values, password_hash="h", now=1.5)

        customer_id = await store.write(plan)
        assert customer_id == 1
        return await store.customers.get(store_id=store_id, customer_id=1)

    customer = run_on_store(store, scenario)
    assert customer == created_customer(1, values)
    assert customer is not None
    assert (customer.password, customer.billing_city, customer.billing_company) == ("", "", None)
    assert customer.enabled is True and customer.mail_list is False
    assert customer.total_store_credit == Decimal("0.0") and str(customer.total_store_credit) == "0.0"
    assert stored_rows(db) == [(store_id, 1, "Jane@Example.com", "jane@example.com", "h", 1.5)]


def test_emails_are_unique_per_store_by_their_filter_key(db: Database, store: Store) -> None:
    one, two = new_store(db, "one.example"), new_store(db, "two.example")

    async def scenario() -> None:
        await store.write(create(one, "Jane@Example.com"))
        await store.write(create(one, "john@example.com"))
        for taken in ("jane@example.com", " JANE@EXAMPLE.COM\t", "Jane@Example.com"):
            with pytest.raises(EmailTaken):
                await store.write(create(one, taken))
            with pytest.raises(EmailTaken):
                await store.write(update(one, 2, {"email": taken}))
        # The failed creates' ids were rolled back with them.
        assert await store.write(create(one, "third@example.com")) == 3
        assert await store.write(create(two, "jane@example.com")) == 1  # another store's

        async def owners(tx: Tx) -> list[int | None]:
            return [
                await tx.customers.email_owner(store_id=one, email=" JANE@example.com "),
                await tx.customers.email_owner(store_id=one, email="john@example.com"),
                await tx.customers.email_owner(store_id=one, email="nobody@example.com"),
                await tx.customers.email_owner(store_id=two, email="Jane@Example.com"),
            ]

        assert await store.write(owners) == [1, 2, None, 1]
        # A customer may take its own e-mail in another case; a freed e-mail may be taken.
        await store.write(update(one, 1, {"email": "JANE@example.com "}))
        await store.write(update(one, 2, {"email": "john2@example.com"}))
        assert await store.write(create(one, "John@example.com")) == 4

    run_on_store(store, scenario)
    rows = stored_rows(db)
    assert [(r[1], r[2], r[3]) for r in rows if r[0] == one] == [
        (1, "JANE@example.com ", "jane@example.com"),
        (2, "john2@example.com", "john2@example.com"),
        (3, "third@example.com", "third@example.com"),
        (4, "John@example.com", "john@example.com"),
    ]


def test_update_changes_the_given_columns_keys_and_time_and_keeps_the_password(
    db: Database, store: Store
) -> None:
    store_id = new_store(db, "one.example")

    async def scenario() -> tuple[Customer | None, Customer | None]:
        await store.write(
            create(store_id, "a@example.com", password_hash="first", billing_city="Old", comments="c")
        )
        await store.write(update(store_id, 1, {"billing_city": "New", "mail_list": True}, now=5.0))
        changed = await store.customers.get(store_id=store_id, customer_id=1)
        assert [c.customer_id for c in await page(store, store_id, CustomerQuery(city="new"))] == [1]
        assert await page(store, store_id, CustomerQuery(city="old")) == []
        await store.write(update(store_id, 1, {"billing_city": None}, password_hash="second", now=6.0))
        assert await page(store, store_id, CustomerQuery(city="new")) == []
        return changed, await store.customers.get(store_id=store_id, customer_id=1)

    changed, cleared = run_on_store(store, scenario)
    assert changed is not None and cleared is not None
    assert (changed.billing_city, changed.mail_list, changed.comments) == ("New", True, "c")
    assert cleared.billing_city is None
    assert stored_rows(db)[0][4:] == ("second", 6.0)


def test_the_password_hash_is_kept_when_none_is_given(db: Database, store: Store) -> None:
    store_id = new_store(db, "one.example")

    async def scenario() -> None:
        await store.write(create(store_id, "a@example.com", password_hash="kept"))
        await store.write(update(store_id, 1, {"comments": "x"}, now=3.0))

    run_on_store(store, scenario)
    assert stored_rows(db)[0][4:] == ("kept", 3.0)


async def page(
    store: Store, store_id: int, query: CustomerQuery, limit: int = 100, skip: int = 0
) -> list[Customer]:
    return await store.customers.page(store_id=store_id, query=query, limit=limit, skip=skip)


def test_filters_use_their_keys_combine_and_page(db: Database, store: Store) -> None:
    one, two = new_store(db, "one.example"), new_store(db, "two.example")
    people = [
        ("Jane@Example.com", "Jane", "Doe", "US", "IL", "Springfield", "555-0100", 10.0),
        ("john@example.com", "JOHN", "Doe", "US", "IN", "Shelbyville", "555-0101", 20.0),
        ("ann@example.com", "Ann", " Roe ", "CA", "ON", "Toronto", "555-0102", 30.0),
    ]

    async def scenario() -> None:
        for email, first, last, country, state, city, phone, when in people:
            await store.write(
                create(
                    one,
                    email,
                    now=when,
                    billing_first_name=first,
                    billing_last_name=last,
                    billing_country=country,
                    billing_state=state,
                    billing_city=city,
                    billing_phone_number=phone,
                    shipping_city="Elsewhere",
                )
            )
        await store.write(create(two, "jane@example.com", billing_first_name="Jane", now=10.0))

        async def ids(query: CustomerQuery, limit: int = 100, skip: int = 0) -> list[int]:
            found = [c.customer_id for c in await page(store, one, query, limit, skip)]
            assert await store.customers.count(store_id=one, query=query) == len(
                [c for c in await page(store, one, query)]
            )
            return found

        assert await ids(CustomerQuery()) == [1, 2, 3]
        assert [c.customer_id for c in await page(store, two, CustomerQuery(firstname="jane"))] == [1]
        assert await ids(CustomerQuery(email="jane@example.com")) == [1]
        assert await ids(CustomerQuery(email="Jane@Example.com")) == []  # the query holds keys
        assert await ids(CustomerQuery(firstname="john")) == [2]
        assert await ids(CustomerQuery(lastname="doe")) == [1, 2]
        assert await ids(CustomerQuery(lastname="roe")) == [3]  # the key is trimmed
        assert await ids(CustomerQuery(country="us", state="in")) == [2]
        assert await ids(CustomerQuery(city="toronto")) == [3]
        assert await ids(CustomerQuery(city="elsewhere")) == []  # billing only
        assert await ids(CustomerQuery(phone="555-0100")) == [1]
        assert await ids(CustomerQuery(updated_from=20.0)) == [2, 3]  # inclusive
        assert await ids(CustomerQuery(updated_to=20.0)) == [1, 2]
        assert await ids(CustomerQuery(updated_from=10.5, updated_to=29.9)) == [2]
        assert await ids(CustomerQuery(lastname="doe"), limit=1, skip=1) == [2]
        assert await ids(CustomerQuery(), limit=2, skip=2) == [3]
        assert await ids(CustomerQuery(), limit=2, skip=3) == []
        assert await store.customers.count(store_id=one, query=CustomerQuery(lastname="doe")) == 2
        assert await store.customers.count(store_id=two, query=CustomerQuery()) == 1

    run_on_store(store, scenario)


def _group(store_id: int, name: str = "G") -> Plan[int]:
    async def plan(tx: Tx) -> int:
        return await tx.create_group(store_id=store_id, actor=ACTOR, values=group_values(name=name))

    return plan


def test_hold_group_knows_the_stores_groups_only(db: Database, store: Store) -> None:
    one, two = new_store(db, "one.example"), new_store(db, "two.example")

    async def scenario() -> list[bool]:
        await store.write(_group(one))
        await store.write(_group(two))
        await store.write(_group(two))

        async def held(tx: Tx) -> list[bool]:
            return [
                await tx.customers.hold_group(store_id=one, group_id=1),
                await tx.customers.hold_group(store_id=one, group_id=2),  # the other store's
                await tx.customers.hold_group(store_id=two, group_id=2),
                await tx.customers.hold_group(store_id=one, group_id=0),
            ]

        return await store.write(held)

    assert run_on_store(store, scenario) == [True, False, True, False]


def test_release_members_puts_a_groups_members_in_no_group(db: Database, store: Store) -> None:
    one, two = new_store(db, "one.example"), new_store(db, "two.example")

    async def scenario() -> None:
        for store_id in (one, two):
            await store.write(_group(store_id, "A"))
            await store.write(_group(store_id, "B"))
        await store.write(create(one, "a@example.com", customer_group_id=1, billing_city="X"))
        await store.write(create(one, "b@example.com", customer_group_id=2))
        await store.write(create(one, "c@example.com", customer_group_id=1))
        await store.write(create(one, "d@example.com"))
        await store.write(create(two, "a@example.com", customer_group_id=1))

        async def counts(tx: Tx) -> list[int]:
            return [
                await tx.customers.count_members(store_id=one, group_id=1),
                await tx.customers.count_members(store_id=one, group_id=2),
                await tx.customers.count_members(store_id=one, group_id=3),
                await tx.customers.count_members(store_id=two, group_id=1),
            ]

        assert await store.write(counts) == [2, 1, 0, 1]
        members = await page(store, one, CustomerQuery(group_id=1))
        assert [c.customer_id for c in members] == [1, 3]

        async def release(tx: Tx) -> list[Customer]:
            return await tx.customers.release_members(store_id=one, group_id=1, now=9999.0)

        released = await store.write(release)
        # Returned as they were, group id and all.
        assert sorted(released) == sorted(members)
        assert all(c.customer_group_id == 1 for c in released)
        assert await page(store, one, CustomerQuery(group_id=1)) == []
        after = {c.customer_id: c for c in await page(store, one, CustomerQuery())}
        assert [after[n].customer_group_id for n in (1, 2, 3, 4)] == [0, 2, 0, 0]
        assert after[1] == members[0]._replace(customer_group_id=0)
        assert [c.customer_id for c in await page(store, one, CustomerQuery(updated_from=9999.0))] == [1, 3]
        # Another store's group 1 keeps its member; releasing an empty group changes nothing.
        assert [c.customer_id for c in await page(store, two, CustomerQuery(group_id=1))] == [1]
        assert await store.write(release) == []
        assert await store.write(counts) == [0, 1, 0, 1]

    run_on_store(store, scenario)


def test_get_many_for_update_returns_the_existing_ones_of_the_store(db: Database, store: Store) -> None:
    one, two = new_store(db, "one.example"), new_store(db, "two.example")

    async def scenario() -> list[int]:
        for n in range(3):
            await store.write(create(one, f"{n}@example.com"))
        await store.write(create(two, "x@example.com"))
        await store.write(create(two, "y@example.com"))
        await store.write(create(two, "z@example.com"))
        await store.write(create(two, "w@example.com"))

        async def many(tx: Tx) -> list[int]:
            found = await tx.customers.get_many_for_update(store_id=one, customer_ids=[3, 1, 4, 1, 99])
            return list(found)

        return await store.write(many)

    assert run_on_store(store, scenario) == [1, 3]


AWKWARD = 'tab\t cr\r nl\n \x01\x1f quote" back\\ slash/ \u0085\u2028\u2029 é 中 😀 </script>'


def test_a_page_written_by_the_store_is_the_apis_bytes(db: Database, store: Store) -> None:
    """page_json and get_json (on SQLite written by SQLite itself) are byte for byte what
    api/wire writes from the same customers: awkward text, nulls, "", flags."""
    from cartgroups.api import wire
    from cartgroups.storage.customers import CustomerReads

    store_id = new_store(db, "bytes.example")
    with db.write() as conn:
        conn.execute(
            sa.insert(tables.customer_groups).values(store_id=store_id, group_id=4, **group_values())
        )

    async def scenario() -> tuple[tuple[bytes, int], tuple[bytes, int], list[Customer]]:
        await store.write(create(store_id, "a@example.com", billing_company=AWKWARD, comments=""))
        await store.write(
            create(store_id, "b@example.com", enabled=True, reset_password=True, customer_group_id=4)
        )
        query = CustomerQuery()
        written = await store.customers.page_json(store_id=store_id, query=query, limit=10, skip=0)
        from_rows = await CustomerReads.page_json(
            store.customers, store_id=store_id, query=query, limit=10, skip=0
        )
        members = await store.customers.page_json(
            store_id=store_id, query=CustomerQuery(group_id=4), limit=10, skip=0
        )
        assert members[1] == 1
        found = await store.customers.page(store_id=store_id, query=query, limit=10, skip=0)
        for customer in found:  # one customer, as GET by id writes it
            one = await store.customers.get_json(store_id=store_id, customer_id=customer.customer_id)
            assert one == wire.customers_body([customer])
            assert one == await CustomerReads.get_json(
                store.customers, store_id=store_id, customer_id=customer.customer_id
            )
        assert await store.customers.get_json(store_id=store_id, customer_id=99) is None
        return written, from_rows, found

    written, from_rows, customers = run_on_store(store, scenario)
    assert written == from_rows == (wire.customers_body(customers), 2)
    assert b'"BillingCompany":null' in written[0] and b'"Comments":""' in written[0]
    assert b"\\u2028" in written[0] and b'"TotalStoreCredit":0.0' in written[0]


def test_a_credit_keeps_its_scale_in_a_written_page(db: Database, store: Store) -> None:
    from cartgroups.api import wire

    store_id = new_store(db, "credit.example")

    async def made() -> int:
        return await store.write(create(store_id, "c@example.com"))

    customer_id = run_on_store(store, made)
    with db.write() as conn:
        conn.execute(
            sa.update(tables.customers)
            .where(tables.customers.c.customer_id == customer_id)
            .values(total_store_credit=Decimal("12.50"))
        )

    async def read() -> tuple[bytes, bytes | None, list[Customer]]:
        body, _ = await store.customers.page_json(store_id=store_id, query=CustomerQuery(), limit=10, skip=0)
        one = await store.customers.get_json(store_id=store_id, customer_id=customer_id)
        return (
            body,
            one,
            await store.customers.page(store_id=store_id, query=CustomerQuery(), limit=10, skip=0),
        )

    body, one, customers = run_on_store(store, read)
    assert body == one == wire.customers_body(customers)
    assert b'"TotalStoreCredit":12.50,' in body


def test_postgresql_reads_customers_by_id_asked_together_in_one_statement(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As groups' GETs by id are (storage/postgres/store._Coalesced): five reads, four keys, two
    stores, one statement, each read its own answer (or None)."""
    import asyncio

    from cartgroups.storage.postgres import store as pg_store

    store = open_store(pg_db)
    assert isinstance(store, pg_store.PostgresStore)
    mine, theirs = new_store(pg_db, "mine.example"), new_store(pg_db, "theirs.example")
    statements: list[object] = []
    real_read_all = pg_store.PostgresStore._read_all

    async def counted(self: pg_store.PostgresStore, statement: object, params: object) -> list[object]:
        statements.append(statement)
        return await real_read_all(self, statement, params)  # type: ignore[arg-type]

    async def scenario() -> list[Customer | None]:
        await store.write(create(mine, "m@example.com"))
        await store.write(create(theirs, "t@example.com"))
        monkeypatch.setattr(pg_store.PostgresStore, "_read_all", counted)
        keys = [(mine, 1), (theirs, 1), (mine, 2), (mine, 1), (theirs, 9)]
        return list(await asyncio.gather(*(store.customers.get(store_id=s, customer_id=c) for s, c in keys)))

    found = run_on_store(store, scenario)
    emails = [None if c is None else c.email for c in found]
    assert emails == ["m@example.com", "t@example.com", None, "m@example.com", None]
    assert len(statements) == 1
