"""Stores, their groups and their credentials as an operator browses and manages them: the
admin console's lists (search, sort, pages) and its issue and revoke.

The console reaches storage only through here (and through CustomerGroups, Operators and
Sandbox), so what differs between the databases stays in storage/. Issuing and revoking are
service.credentials' issue() and revoke(), the functions `cartgroups credentials` calls: a
revocation moves the count each process's Authenticator watches, whoever makes it.

The rows handed out are storage's own read-only records (StoreRow, TokenRow), named here so
that their users need not import storage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from cartgroups.model import CustomerGroup
from cartgroups.service import credentials
from cartgroups.service.credentials import Issued
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import customer_groups as group_sql
from cartgroups.storage.credentials import StoreRow, TokenRow
from cartgroups.storage.database import Database

__all__ = ["GROUP_SORTS", "Issued", "Page", "StoreRow", "Stores", "TokenRow", "paged"]

# What a store's groups can be sorted by (ties broken by id).
GROUP_SORTS: tuple[str, ...] = tuple(group_sql.SORTS)

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    """One page of a list: its rows, how many match in all, and which page of how many it is.
    The number asked for is clamped to the pages there are (an empty list has one page)."""

    rows: list[Row]
    total: int
    number: int  # 1-based
    pages: int


def paged(total: int, size: int, asked: int, read: Callable[..., list[Row]]) -> Page[Row]:
    """Page ``asked`` of ``size`` rows of a list of ``total``, clamped to 1..pages (an empty list
    has one page): ``read(limit=, skip=)`` reads its rows, in the transaction that counted them."""
    pages = max(1, -(-total // size))
    number = min(max(asked, 1), pages)
    return Page(read(limit=size, skip=(number - 1) * size), total, number, pages)


class Stores:
    """Reads and the credential changes of the console, on one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, store_id: int) -> StoreRow | None:
        """The store with its number of groups; None when there is no such store."""
        with self.db.read() as conn:
            return cred_sql.get_store(conn, store_id=store_id)

    def search(self, *, contains: str, size: int, number: int) -> Page[StoreRow]:
        """Stores whose SecureURL contains the text (any case), by address; page ``number``
        (clamped) of ``size`` rows. Counted and read in one transaction."""
        with self.db.read() as conn:
            total = cred_sql.count_matching_stores(conn, contains=contains)
            return paged(total, size, number, partial(cred_sql.search_stores, conn, contains=contains))

    def groups(
        self,
        store_id: int,
        *,
        name_contains: str,
        sort: str,
        descending: bool,
        size: int,
        number: int,
    ) -> Page[CustomerGroup]:
        """A store's groups whose name contains the text (any case), sorted by ``sort`` (one of
        GROUP_SORTS); page ``number`` (clamped) of ``size`` rows, counted and read in one
        transaction."""
        with self.db.read() as conn:
            total = group_sql.count_matching(conn, store_id=store_id, name_contains=name_contains)
            read = partial(
                group_sql.search_groups,
                conn,
                store_id=store_id,
                name_contains=name_contains,
                sort=sort,
                descending=descending,
            )
            return paged(total, size, number, read)

    def tokens(self, store_id: int) -> tuple[list[TokenRow], list[str]]:
        """Every token of the store, live and revoked, by application then id; and the names of
        every application (any store's), for the issue form to offer."""
        with self.db.read() as conn:
            tokens = cred_sql.store_tokens(conn, store_id=store_id)
            names = [row.name for row in cred_sql.list_applications(conn)]
        return tokens, names

    def issue(self, *, secure_url: str, application: str, scope: str) -> Issued:
        """credentials.issue(): a new token (and the application, when it is new)."""
        return credentials.issue(self.db, secure_url=secure_url, application=application, scope=scope)

    def revoke(self, *, store_id: int, token_id: int) -> None:
        """credentials.revoke() of one live token of this store; NotFound when the store has no
        such live token (another store's token is not revoked)."""
        credentials.revoke(self.db, token_id=token_id, store_id=store_id)
