"""The sandbox controls (``cartgroups serve --sandbox``): resets, seeding, export, fault rules,
the request journal and the per-store throttling override.

All state is in the database (storage/sandbox.py), so several server processes share it: a
rule added through one worker applies in every worker, and a "next N requests" rule fires
exactly N times in total, whichever processes answer them.

The journal is written off the request path: record() only queues an entry in memory, and
flush_journal() writes what is queued in one transaction that never waits for SQLite's write
lock (Database.write_batch); the API layer calls it, off the event loop, before it sends the
reply (so a client that reads the journal next finds the entry), and again a moment later while
the database is busy or unavailable (api/sandbox.py). The queue is bounded
(JOURNAL_QUEUE entries, JOURNAL_QUEUE_CHARS characters): when the database stays away, the
oldest queued entries are dropped and counted (journal_dropped). Reading, clearing or resetting
a journal first writes what this process has queued.
"""

from __future__ import annotations

import fnmatch
import functools
import hmac
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import regex as bounded_re
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cartgroups.customer_model import (
    CUSTOMER_GROUP_ID,
    EMAIL,
    PASSWORD,
    TOTAL_STORE_CREDIT,
    WRITABLE,
    Customer,
    created_customer,
    filter_key,
)
from cartgroups.errors import CartgroupsError, DatabaseUnavailable, Invalid, NotFound, Unauthorized
from cartgroups.model import DECIMAL_MAX, DECIMAL_MAX_PLACES, ID, CustomerGroup
from cartgroups.service import credentials, customer_audit, validation
from cartgroups.service.customer_groups import created_group
from cartgroups.service.customers import EMAIL_TAKEN, NO_SUCH_GROUP
from cartgroups.service.operators import hash_password
from cartgroups.storage import audit as audit_sql
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import customers_sandbox
from cartgroups.storage import sandbox as sql
from cartgroups.storage.audit import Actor, Change
from cartgroups.storage.database import Database
from cartgroups.storage.database import Retry as Retry  # handed down: api/sandbox.py catches them
from cartgroups.storage.dialect import WriterBusy as WriterBusy
from cartgroups.storage.sandbox import FaultRow as FaultRow  # handed down: api/sandbox.py shows them
from cartgroups.storage.sandbox import JournalRow as JournalRow

log = logging.getLogger("cartgroups.sandbox")

PREFIX = "/_cartgroups/"
TOKEN_MISSING = "The sandbox controls need the sandbox token: send Authorization: Bearer <token>"  # noqa: S105
TOKEN_WRONG = "The sandbox token is not valid"  # noqa: S105
NOT_A_STORE = "There is no store {!r}"

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
JOURNAL_QUEUE = 10_000  # journal entries a process holds while the database cannot take them
JOURNAL_QUEUE_CHARS = 16 * 1024 * 1024  # and the characters of their text (bodies), at most
JOURNAL_BATCH = 500  # entries written in one transaction
MAX_LATENCY_MS = 60_000
MAX_PATTERN = 500
# How long one rule's path pattern may take on one request path. Python's re has no bound, and a
# pattern like (a+)+$ takes exponential time on a path of many a's followed by b (15 s for one
# request, seen); the regex module (same syntax) stops at a deadline, and the rule is then taken
# as not matching.
MATCH_TIMEOUT_SECONDS = 0.05
# Default messages of injected errors: 3dcart's own wording where it has one.
DEFAULT_MESSAGES = {
    400: "The request is invalid.",
    401: credentials.REJECTED,
    403: "Forbidden",
    404: "The requested resource was not found.",
    429: "Too many requests. The request rate limit has been exceeded; try again later.",
    500: "An error has occurred.",
    502: "Bad Gateway",
    503: "The service is unavailable.",
    504: "Gateway Timeout",
}


def default_message(status: int) -> str:
    found = DEFAULT_MESSAGES.get(status)
    if found is not None:
        return found
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


class SeedRejected(Invalid):
    """Some groups or customers of a seed break the server's rules; ``problems`` is (where,
    message) each: a group's position (an int, as before customers existed) or a customer's
    ``"customers[i]"``."""

    def __init__(self, problems: list[tuple[int | str, str]]) -> None:
        super().__init__("; ".join(f"{seed_place(i)}: {message}" for i, message in problems))
        self.problems = problems


def seed_place(where: int | str) -> str:
    """``groups[1]`` for a group's position, a customer's ``customers[1]`` as it is."""
    return f"groups[{where}]" if isinstance(where, int) else where


@dataclass(frozen=True, slots=True)
class Seeded:
    """What a seed created: the groups' ids and the customers' ids, each in the seed's order."""

    groups: list[int]
    customers: list[int]


@dataclass(frozen=True, slots=True)
class _SeedCustomer:
    """One customer of a seed, checked: its stored values, password and credit, and the seeded
    group its CustomerGroupID names (a seeded group's CustomerGroupID label), if any."""

    values: dict[str, object]
    password: str | None
    credit: Decimal
    group_label: int | None


def seed_parts(body: object) -> tuple[object, object]:
    """The groups and the customers of a seed body: a JSON array is groups (as before customers
    existed); an object has ``groups`` and/or ``customers`` arrays (names in any case). Any
    other object is taken as groups, and refused as before."""
    if isinstance(body, dict) and any(str(k).lower() in ("groups", "customers") for k in body):
        fields = _object(body, "groups", "customers")
        groups = fields.get("groups")
        customers = fields.get("customers")
        return ([] if groups is None else groups), ([] if customers is None else customers)
    return body, []


def _credit(raw: object) -> tuple[Decimal, str | None]:
    """TotalStoreCredit of a seeded customer (a seed is its only way in, D6): a number (or a
    number in a string) from 0 to .NET's decimal maximum; absent or null is 0.0."""
    if raw is None:
        return TOTAL_STORE_CREDIT.default, None  # type: ignore[return-value]
    if isinstance(raw, str):  # a number in a string, read leniently as the API reads numbers
        try:
            raw = Decimal(raw.strip())
        except ArithmeticError:
            return Decimal(0), "TotalStoreCredit must be a number"
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
        return Decimal(0), "TotalStoreCredit must be a number"
    value = Decimal(raw)
    if not value.is_finite() or value < 0 or value > DECIMAL_MAX:
        return Decimal(0), "TotalStoreCredit must be a number from 0 to 79228162514264337593543950335"
    if -value.as_tuple().exponent > DECIMAL_MAX_PLACES:  # type: ignore[operator]
        return Decimal(0), f"TotalStoreCredit must have at most {DECIMAL_MAX_PLACES} decimal places"
    return value.copy_abs(), None  # -0 is 0 (SQLite would keep and write "-0.0"), as the API's _check


def validated_customers(bodies: object, labels: Mapping[int, int]) -> list[_SeedCustomer]:
    """Each customer of a seed checked as a POST checks it (D2, D4, D5), plus its TotalStoreCredit;
    SeedRejected naming every bad one. ``labels`` counts the CustomerGroupIDs the seed's groups
    carry (a label named twice cannot be followed)."""
    if not isinstance(bodies, list):
        raise Invalid("customers must be a JSON array of Customer objects")
    problems: list[tuple[int | str, str]] = []
    checked: list[_SeedCustomer] = []
    emails: dict[str, int] = {}
    for index, body in enumerate(bodies):
        where = f"customers[{index}]"
        try:
            given, values, found = validation.object_values(body, WRITABLE, entity="Customer", creating=True)
        except Invalid as exc:
            problems.append((where, exc.message))
            continue
        messages = list(found.values())
        credit, problem = _credit(given.get(TOTAL_STORE_CREDIT.key))
        if problem:
            messages.append(problem)
        email = values.get(EMAIL.column)
        if isinstance(email, str):
            key = filter_key(email) or ""
            if key in emails:
                messages.append(f"Email is also the e-mail of customers[{emails[key]}]")
            emails.setdefault(key, index)
        group = values.get(CUSTOMER_GROUP_ID.column)
        if isinstance(group, int) and labels.get(group, 0) > 1:
            messages.append(f"CustomerGroupID {group} names more than one group of the seed")
        if messages:
            problems.append((where, "; ".join(messages)))
            continue
        password = values.pop(PASSWORD.column, None)
        label = group if isinstance(group, int) and group in labels else None
        checked.append(
            _SeedCustomer(values, password if isinstance(password, str) and password else None, credit, label)
        )
    if problems:
        raise SeedRejected(problems)
    return checked


def group_labels(bodies: list[object]) -> dict[int, int]:
    """The CustomerGroupIDs the seed's groups carry (ignored as ids, as in a POST), each with how
    many groups carry it: a seeded customer names a seeded group by it."""
    labels: dict[int, int] = {}
    for body in bodies:
        if isinstance(body, dict):
            raw = validation.fold(body).get(ID.key)
            if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
                labels[raw] = labels.get(raw, 0) + 1
    return labels


def validated_groups(bodies: object, *, price_level_1_to_10: bool = False) -> list[dict[str, object]]:
    """The column values of each group as a POST would take them, or SeedRejected naming every
    bad one. ``bodies`` is a parsed JSON array (numbers with a fraction as Decimal);
    ``price_level_1_to_10`` is the server setting of that name, as for a POST."""
    if not isinstance(bodies, list):
        raise Invalid("The request body must be a JSON array of CustomerGroup objects")
    problems: list[tuple[int | str, str]] = []
    values: list[dict[str, object]] = []
    for index, body in enumerate(bodies):
        try:
            values.append(
                validation.group_values(body, creating=True, price_level_1_to_10=price_level_1_to_10)
            )
        except Invalid as exc:
            problems.append((index, exc.message))
    if problems:
        raise SeedRejected(problems)
    return values


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str, regex: bool) -> Any:
    """A glob is matched against the whole path (``*`` crosses ``/``); a regular expression is
    searched for anywhere in it. Both ignore case, like 3dcart's routes. Compiled by the regex
    module (the syntax of Python's re), whose matching takes a timeout (see MATCH_TIMEOUT_SECONDS)."""
    return bounded_re.compile(pattern if regex else fnmatch.translate(pattern), bounded_re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Fault:
    """A rule that fired for one request."""

    id: int
    status: int | None
    message: str
    retry_after: int | None
    latency_ms: int


def _matches(rule: FaultRow, method: str, path: str, store: str | None) -> bool:
    if rule.method != "*" and rule.method != method:
        return False
    if rule.secure_url is not None and rule.secure_url != store:
        return False
    pattern = compile_pattern(rule.path, rule.regex)
    try:
        if rule.regex:
            return bool(pattern.search(path, timeout=MATCH_TIMEOUT_SECONDS))
        return bool(pattern.match(path, timeout=MATCH_TIMEOUT_SECONDS))
    except TimeoutError:
        log.warning(
            "fault rule %d: its path pattern took longer than %g s on a %d-character path; "
            "taken as not matching",
            rule.id,
            MATCH_TIMEOUT_SECONDS,
            len(path),
        )
        return False


def _store_of(secure_url: str | None) -> str | None:
    return credentials.normalise_secure_url(secure_url) if secure_url else None


# The properties of a fault rule, as the control API takes them (and the admin console's form).
FAULT_FIELDS = (
    "method",
    "path",
    "match",
    "store",
    "status",
    "message",
    "retry_after",
    "latency_ms",
    "probability",
    "times",
)


class Sandbox:
    """The controls, on one database. ``random`` draws the probability of a rule (replaceable
    in tests); ``journal_size`` is how many entries each store's journal keeps."""

    def __init__(
        self,
        db: Database,
        *,
        token: str,
        journal_size: int,
        random: Callable[[], float] = random.random,
        price_level_1_to_10: bool = False,
    ) -> None:
        self.db = db
        self.price_level_1_to_10 = price_level_1_to_10  # the setting: seeds follow a POST's rules
        self._token = token.encode("utf-8", "surrogatepass")
        self.journal_size = journal_size
        self.random = random
        # Journal entries not yet written: (store, entry, characters), oldest first.
        self._queue: deque[tuple[str, Mapping[str, object], int]] = deque()
        self._queued_chars = 0
        self._queue_lock = threading.Lock()  # taken briefly; never held while the database works
        self._flushing = threading.Lock()  # one flush at a time (it is never waited for)
        self.journal_dropped = 0  # entries dropped because the queue was full

    # Guard -------------------------------------------------------------------------------------

    def check_token(self, presented: str | None) -> None:
        """Unauthorized unless ``presented`` is the sandbox token (compared in constant time)."""
        if not presented:
            raise Unauthorized(TOKEN_MISSING)
        if not hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), self._token):
            raise Unauthorized(TOKEN_WRONG)

    # Stores ------------------------------------------------------------------------------------

    def store_id(self, secure_url: str) -> int:
        store = credentials.normalise_secure_url(secure_url)
        found = None
        if validation.is_clean_text(store):  # else no store has that name (nor could be asked for)
            with self.db.read() as conn:
                found = sql.find_store(conn, secure_url=store)
        if found is None:
            raise NotFound(NOT_A_STORE.format(store), value=store)
        return found

    def canonical(self, secure_url: str) -> str:
        """The store's name as stored (``https://www.Shop.com/`` is ``shop.com``)."""
        return credentials.normalise_secure_url(secure_url)

    def stores(self) -> list[dict[str, object]]:
        """Every store: its SecureURL, number of groups and throttling override."""
        with self.db.read() as conn:
            rows = cred_sql.list_stores(conn)
            throttles = sql.all_throttles(conn)
        return [
            {"SecureURL": row.secure_url, "groups": row.group_count, "throttle": throttles.get(row.id)}
            for row in rows
        ]

    def create_store(self, body: object) -> credentials.Issued:
        """Credentials for a store (created when new). A fresh application is made unless the
        body names one, so that the PrivateKey can always be shown."""
        fields = _object(body, "SecureURL", "Application", "Scope")
        secure_url = _text(fields, "SecureURL", required=True)
        application = _text(fields, "Application") or f"sandbox-{credentials.new_secret()[:12]}"
        scope = _text(fields, "Scope") or "read,write"
        assert secure_url is not None
        return credentials.issue(self.db, secure_url=secure_url, application=application, scope=scope)

    def reset_all(self) -> int:
        """Empty every store (ids from 1), drop every journal, override and fault rule. Returns
        the number of stores; their credentials stay valid."""
        self._forget_queued(None)
        with self.db.write() as conn:
            return sql.reset_all(conn)

    def reset_store(self, secure_url: str) -> None:
        store_id = self.store_id(secure_url)
        self._forget_queued(self.canonical(secure_url))
        with self.db.write() as conn:
            sql.reset_store(conn, store_id=store_id)

    def seed(self, secure_url: str | int, bodies: object) -> list[int]:
        """Create the groups as POSTs would, all or none, and return their ids in order (a seed
        body with customers too: seed_store)."""
        return self.seed_store(secure_url, bodies).groups

    def seed_store(self, secure_url: str | int, body: object) -> Seeded:
        """Create groups and customers as POSTs would, all or none (seed_parts reads ``body``).

        The groups are written first. A customer's CustomerGroupID that one of the seeded groups
        carries (a group's own CustomerGroupID is not its id, as in a POST) names that group;
        any other must be 0 or a group of the store, those just seeded included. A customer
        may carry TotalStoreCredit (the only way to give one credit) and a Password (hashed)."""
        group_bodies, customer_bodies = seed_parts(body)
        values = validated_groups(group_bodies, price_level_1_to_10=self.price_level_1_to_10)
        assert isinstance(group_bodies, list)
        labels = group_labels(group_bodies)
        people = validated_customers(customer_bodies, labels)
        hashes = [hash_password(c.password) if c.password else None for c in people]
        store_id = secure_url if isinstance(secure_url, int) else self.store_id(secure_url)
        actor = Actor(None, None)  # recorded like any create; the actor is the sandbox
        with self.db.write() as conn:
            ids = sql.insert_groups(conn, store_id=store_id, values=values)
            changes = [
                Change("create", i, None, created_group(i, v)) for i, v in zip(ids, values, strict=True)
            ]
            audit_sql.record(conn, store_id=store_id, actor=actor, changes=changes)
            if not people:
                return Seeded(ids, [])
            label_ids: dict[int, int] = {}
            for group_body, group_id in zip(group_bodies, ids, strict=True):
                label = group_labels([group_body])
                if label:
                    label_ids[next(iter(label))] = group_id
            rows = self._customer_rows(conn, store_id, people, hashes, label_ids)
            try:
                customer_ids = customers_sandbox.insert_customers(conn, store_id=store_id, rows=rows)
            except sa.exc.IntegrityError:  # an e-mail taken since _customer_rows looked
                raise SeedRejected([("customers", EMAIL_TAKEN)]) from None
            entries = [
                customer_audit.entry(
                    store_id,
                    actor,
                    "create",
                    i,
                    None,
                    created_customer(i, row.values)._replace(total_store_credit=row.total_store_credit),
                )
                for i, row in zip(customer_ids, rows, strict=True)
            ]
            audit_sql.record_entries(conn, entries)
            return Seeded(ids, customer_ids)

    @staticmethod
    def _customer_rows(
        conn: Connection,
        store_id: int,
        people: list[_SeedCustomer],
        hashes: list[str | None],
        label_ids: Mapping[int, int],
    ) -> list[customers_sandbox.SeedCustomer]:
        """The rows to insert, each CustomerGroupID resolved; SeedRejected (the transaction is
        rolled back) when an e-mail is taken in the store or a group does not exist."""
        resolved = []
        for person in people:
            group = person.values.get(CUSTOMER_GROUP_ID.column)
            if person.group_label is not None:
                group = label_ids[person.group_label]
            resolved.append({**person.values, CUSTOMER_GROUP_ID.column: group})
        wanted = {v[CUSTOMER_GROUP_ID.column] for v in resolved} - {0}
        groups = customers_sandbox.existing_groups(conn, store_id=store_id, group_ids=wanted)  # type: ignore[arg-type]
        keys = {filter_key(str(v[EMAIL.column])) or "" for v in resolved}
        taken = customers_sandbox.taken_emails(conn, store_id=store_id, keys=keys)
        problems: list[tuple[int | str, str]] = []
        for index, v in enumerate(resolved):
            messages = []
            if filter_key(str(v[EMAIL.column])) in taken:
                messages.append(EMAIL_TAKEN)
            group = v[CUSTOMER_GROUP_ID.column]
            if group != 0 and group not in groups:
                messages.append(NO_SUCH_GROUP.format(group))
            if messages:
                problems.append((f"customers[{index}]", "; ".join(messages)))
        if problems:
            raise SeedRejected(problems)
        now = time.time()
        return [
            customers_sandbox.SeedCustomer(v, h, p.credit, now)
            for v, h, p in zip(resolved, hashes, people, strict=True)
        ]

    def export(self, secure_url: str) -> list[CustomerGroup]:
        store_id = self.store_id(secure_url)
        with self.db.read() as conn:
            return sql.all_groups(conn, store_id=store_id)

    def export_store(self, secure_url: str) -> tuple[list[CustomerGroup], list[Customer]]:
        """The store's groups and customers, each in ascending id order (Password "")."""
        store_id = self.store_id(secure_url)
        with self.db.read() as conn:
            return (
                sql.all_groups(conn, store_id=store_id),
                customers_sandbox.all_customers(conn, store_id=store_id),
            )

    # Throttling --------------------------------------------------------------------------------

    def throttle_enabled(self, store_id: int) -> bool | None:
        """The store's throttling override for the rate limiter: True (throttle), False (never
        throttle) or None (no override: the limiter's own setting applies)."""
        with self.db.read() as conn:
            return sql.get_throttle(conn, store_id=store_id)

    def throttle(self, secure_url: str) -> bool | None:
        return self.throttle_enabled(self.store_id(secure_url))

    def set_throttle(self, secure_url: str, body: object) -> bool | None:
        fields = _object(body, "throttle")
        if "throttle" not in fields:
            raise Invalid("throttle is required: true, false or null")
        value = fields["throttle"]
        if value is not None and not isinstance(value, bool):
            raise Invalid("throttle must be true, false or null")
        store_id = self.store_id(secure_url)
        with self.db.write() as conn:
            sql.set_throttle(conn, store_id=store_id, throttle=value)
        return value

    # Fault rules -------------------------------------------------------------------------------

    def faults(self) -> list[FaultRow]:
        with self.db.read() as conn:
            return sql.list_faults(conn)

    def add_fault(self, body: object) -> FaultRow:
        values = self._fault_values(body)
        with self.db.write() as conn:
            fault_id = sql.insert_fault(conn, values=values)
            [row] = sql.list_faults(conn, fault_id=fault_id)
        return row

    def fault(self, fault_id: int) -> FaultRow:
        with self.db.read() as conn:
            found = sql.list_faults(conn, fault_id=fault_id)
        if not found:
            raise NotFound(f"There is no fault rule {fault_id}", value=str(fault_id))
        return found[0]

    def delete_fault(self, fault_id: int) -> None:
        with self.db.write() as conn:
            if not sql.delete_fault(conn, fault_id=fault_id):
                raise NotFound(f"There is no fault rule {fault_id}", value=str(fault_id))

    def clear_faults(self) -> int:
        with self.db.write() as conn:
            return sql.delete_faults(conn)

    def _fault_values(self, body: object) -> dict[str, object]:
        fields = _object(body, *FAULT_FIELDS)
        method = (_text(fields, "method") or "*").upper()
        if method != "*" and method not in METHODS:
            raise _bad("method", f"method must be * or one of {', '.join(METHODS)}")
        path = _text(fields, "path") or "*"
        if len(path) > MAX_PATTERN:
            raise _bad("path", f"path must be at most {MAX_PATTERN} characters")
        kind = _text(fields, "match") or "glob"
        if kind not in ("glob", "regex"):
            raise _bad("match", "match must be glob or regex")
        if kind == "regex":
            try:
                re.compile(path)  # Python's re syntax, and its messages (compiling is linear)
                compile_pattern(path, True)
            except (re.error, bounded_re.error) as exc:
                raise _bad("path", f"path is not a valid regular expression: {exc}") from None
        store = _text(fields, "store")
        status = _integer(fields, "status", 400, 599)
        message = _text(fields, "message")
        if message is not None and status is None:
            raise _bad("message", "message needs a status")
        retry_after = _integer(fields, "retry_after", 0, 86_400)
        latency = _integer(fields, "latency_ms", 0, MAX_LATENCY_MS) or 0
        if status is None and latency == 0:
            raise _bad("status", "a fault needs a status, a latency_ms, or both")
        probability = fields.get("probability", 1)
        if probability is None:
            probability = 1
        if isinstance(probability, bool) or not isinstance(probability, int | float | Decimal):
            raise _bad("probability", "probability must be a number from 0 to 1")
        if not 0 <= probability <= 1:
            raise _bad("probability", "probability must be a number from 0 to 1")
        times = _integer(fields, "times", 1, 1_000_000)
        return {
            "method": method,
            "path": path,
            "regex": kind == "regex",
            "store_id": self._rule_store(store),
            "status": status,
            "message": message,
            "retry_after": retry_after,
            "latency_ms": latency,
            "probability": float(probability),
            "remaining": times,
        }

    def _rule_store(self, store: str | None) -> int | None:
        if store is None:
            return None
        try:
            return self.store_id(store)
        except NotFound as exc:
            raise Invalid(exc.message, value=exc.value, fields={"store": exc.message}) from None

    def faults_matching(self, method: str, path: str, secure_url: str | None) -> list[FaultRow]:
        """The rules (in the order they were added) that match the request, each with its
        probability drawn; claim() one to fire it. A read: no lock is waited for."""
        with self.db.read() as conn:
            rules = sql.list_faults(conn)
        if not rules:
            return []
        path = path.rstrip("/") or "/"
        store = _store_of(secure_url)
        return [
            rule
            for rule in rules
            if _matches(rule, method, path, store)
            and (rule.probability >= 1 or self.random() < rule.probability)
        ]

    def claim(self, rule: FaultRow) -> Fault | None:
        """Claim one of the rule's remaining applications atomically: the fault, or None when its
        last went to another request meanwhile. Never waits for SQLite's write lock: raises
        WriterBusy while another process holds it, DatabaseUnavailable when the database takes
        no writes, and Retry when it lost a conflict (PostgreSQL); try again or do without."""
        [claimed] = self.db.write_batch([functools.partial(self._claim, rule.id)])
        if isinstance(claimed, Exception):
            raise claimed
        return self.fault_of(rule) if claimed else None

    @staticmethod
    def _claim(fault_id: int, conn: Connection) -> bool:
        return sql.claim_fault(conn, fault_id=fault_id)

    @staticmethod
    def fault_of(rule: FaultRow) -> Fault:
        message = rule.message if rule.message is not None else default_message(rule.status or 500)
        return Fault(rule.id, rule.status, message, rule.retry_after, rule.latency_ms)

    # Journal -----------------------------------------------------------------------------------

    def record(self, secure_url: str | None, entry: Mapping[str, object]) -> None:
        """Queue a request for the journal of the store its SecureURL names (none if it names no
        store); flush_journal() writes it."""
        store = _store_of(secure_url)
        if store is None:
            return
        size = sum(len(value) for value in entry.values() if isinstance(value, str))
        with self._queue_lock:
            self._queue.append((store, entry, size))
            self._queued_chars += size
            self._trim_queue()

    def _trim_queue(self) -> None:
        """Drop the oldest queued entries beyond the bounds (call holding _queue_lock)."""
        dropped = 0
        while self._queue and (len(self._queue) > JOURNAL_QUEUE or self._queued_chars > JOURNAL_QUEUE_CHARS):
            _, _, size = self._queue.popleft()
            self._queued_chars -= size
            dropped += 1
        if dropped:
            if (
                self.journal_dropped == 0
                or (self.journal_dropped + dropped) // 1000 > self.journal_dropped // 1000
            ):
                log.warning(
                    "journal: the database has not taken entries for a while; %d dropped so far",
                    self.journal_dropped + dropped,
                )
            self.journal_dropped += dropped

    @property
    def journal_queued(self) -> int:
        """Entries recorded by this process and not yet written."""
        return len(self._queue)

    def flush_journal(self) -> str:
        """Write the queued journal entries: "done" (nothing left), "busy" (another process holds
        SQLite's write lock, or another flush runs: try again soon) or "unavailable" (the
        database cannot take writes: try again later). Never waits for a lock."""
        if not self._flushing.acquire(blocking=False):
            return "busy"
        try:
            while True:
                with self._queue_lock:
                    batch = [self._queue.popleft() for _ in range(min(JOURNAL_BATCH, len(self._queue)))]
                    self._queued_chars -= sum(size for _, _, size in batch)
                if not batch:
                    return "done"
                try:
                    outcomes = self.db.write_batch([functools.partial(self._append, *item) for item in batch])
                except (WriterBusy, DatabaseUnavailable) as exc:
                    with self._queue_lock:  # back to the front, oldest first, within the bounds
                        self._queue.extendleft(reversed(batch))
                        self._queued_chars += sum(size for _, _, size in batch)
                        self._trim_queue()
                    return "busy" if isinstance(exc, WriterBusy) else "unavailable"
                for outcome in outcomes:
                    if isinstance(outcome, Exception):  # that entry alone; the others are written
                        text = outcome.message if isinstance(outcome, CartgroupsError) else repr(outcome)
                        log.warning("request not journaled: %s", text)
        finally:
            self._flushing.release()

    def _append(self, store: str, entry: Mapping[str, object], _size: int, conn: Connection) -> None:
        """A work of flush_journal's batch: one entry, written on the batch's connection."""
        store_id = sql.find_store(conn, secure_url=store)
        if store_id is not None:
            sql.append_journal(conn, store_id=store_id, entry=entry, keep=self.journal_size)

    def _forget_queued(self, store: str | None) -> int:
        """Drop the queued entries of ``store`` (of every store with None); how many."""
        with self._queue_lock:
            kept = [item for item in self._queue if store is not None and item[0] != store]
            dropped = len(self._queue) - len(kept)
            self._queue = deque(kept)
            self._queued_chars = sum(size for _, _, size in kept)
        return dropped

    def journal(self, secure_url: str, limit: int | None = None) -> list[JournalRow]:
        store_id = self.store_id(secure_url)
        self.flush_journal()  # what this process has queued (if the database takes it now)
        with self.db.read() as conn:
            return sql.read_journal(conn, store_id=store_id, limit=limit or self.journal_size)

    def journal_entry(self, secure_url: str, entry_id: int) -> JournalRow:
        """One entry of the store's journal; NotFound when it has none with that id (any more)."""
        store_id = self.store_id(secure_url)
        self.flush_journal()
        with self.db.read() as conn:
            found = sql.read_journal(conn, store_id=store_id, limit=1, entry_id=entry_id)
        if not found:
            raise NotFound(f"The journal of {secure_url} has no entry {entry_id}", value=str(entry_id))
        return found[0]

    def clear_journal(self, secure_url: str) -> int:
        store_id = self.store_id(secure_url)
        self.flush_journal()
        forgotten = self._forget_queued(self.canonical(secure_url))
        with self.db.write() as conn:
            return forgotten + sql.clear_journal(conn, store_id=store_id)


def _bad(name: str, message: str) -> Invalid:
    """A rejected field: the API sends ``message``; the admin console shows it next to ``name``."""
    return Invalid(message, fields={name: message})


def _object(body: object, *names: str) -> dict[str, Any]:
    """A JSON object whose keys are among ``names`` (matched without regard to case)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object")
    known = {name.lower(): name for name in names}
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = known.get(key.lower())
        if name is None:
            raise Invalid(f"Unknown field {key!r}; expected {', '.join(names)}", value=key)
        fields[name] = value
    return fields


def _text(fields: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = fields.get(name)
    if value is None:
        if required:
            raise _bad(name, f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad(name, f"{name} must be {'a non-empty' if required else 'a'} string")
    if not validation.is_clean_text(value):  # no database stores a lone surrogate, PostgreSQL no NUL
        raise _bad(name, f"{name} must be valid Unicode text without NUL characters")
    return value


def _integer(fields: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(name, f"{name} must be a whole number from {low} to {high}")
    return value
