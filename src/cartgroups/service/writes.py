"""The types of a write, handed down from storage/store.py so that nothing in api/ or admin/
reaches storage around the service.

A write receives its transaction explicitly: Plan[T] is a prepared write, an async function
called with the transaction it runs in (Transaction, the store's Tx) and returning its result.
Whoever has one runs it with ``await store.write(plan)`` (service: CustomerGroups.run); the store
decides how (SQLite: in the process's group commit; PostgreSQL: a transaction of its own on a
pooled connection, or for an Alone plan, one statement). UNAVAILABLE is the message of the 503
a write gets when the database cannot take it."""

from __future__ import annotations

from typing import TypeAlias

from cartgroups.storage.database import UNAVAILABLE
from cartgroups.storage.store import Alone, Plan, Store, Tx

__all__ = ["UNAVAILABLE", "Alone", "Plan", "Store", "Transaction"]

# The transaction a plan writes in.
Transaction: TypeAlias = Tx
