"""A store's customers as the admin console lists them: a search by e-mail or name, sorted and
paged, and the members of one group (storage/customers_admin.py says what the search matches).

Synchronous, like service.stores (the console calls it through offloop.off_loop); the
customers' changes go through service.customers.Customers, the API's own rules."""

from __future__ import annotations

from functools import partial

from cartgroups.customer_model import Customer
from cartgroups.service.stores import Page, paged
from cartgroups.storage import customers_admin as sql
from cartgroups.storage.database import Database

__all__ = ["CUSTOMER_SORTS", "CustomerSearch"]

# What the console's customer list can be sorted by (ties broken by id).
CUSTOMER_SORTS: tuple[str, ...] = tuple(sql.CUSTOMER_SORTS)


class CustomerSearch:
    def __init__(self, db: Database) -> None:
        self.db = db

    def search(
        self,
        store_id: int,
        *,
        contains: str,
        group_id: int | None = None,
        sort: str = "id",
        descending: bool = False,
        size: int,
        number: int,
    ) -> Page[Customer]:
        """The store's customers whose e-mail, first or last name (or "first last") contains the
        text, in any case ("" matches all); with ``group_id``, only that group's members. Sorted
        by ``sort`` (one of CUSTOMER_SORTS); page ``number`` (clamped) of ``size`` rows, counted
        and read in one transaction."""
        with self.db.read() as conn:
            total = sql.count_customers(conn, store_id=store_id, contains=contains, group_id=group_id)
            read = partial(
                sql.search_customers,
                conn,
                store_id=store_id,
                contains=contains,
                group_id=group_id,
                sort=sort,
                descending=descending,
            )
            return paged(total, size, number, read)
