"""``cartgroups customers ...``: the customers of one store, read and written in its database
through the service (service/customers.py), with the API's rules (shared/spec/customers.md D1-D9).

Unlike ``groups``, which talks to any server through the SDK, these commands open the database
(--database or CARTGROUPS_DATABASE_URL) and name the store by its SecureURL (--store or
CARTGROUPS_SECURE_URL), as ``audit list`` does. Every change is recorded in the audit log as
made by the application ``cli:<user>`` (the operating-system user), with no token.

``import`` checks every row with the service's rules first (each field; Email unique in the store
and in the file; CustomerGroupID 0 or a group of the store; with --update, that the CustomerID is
the store's); a file with any invalid row writes nothing. Then rows are written 100 to a
transaction; a row the database refuses at that point (another writer got there in between) is
reported and the others are written, as ``groups import`` does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast
from zoneinfo import ZoneInfo

import orjson
import typer

from cartgroups.cli.common import (
    DATABASE_OPTION,
    FORMAT_OPTION,
    JSON_OPTION,
    NO_GUARD_IN,
    NO_GUARD_OUT,
    OUTPUT,
    OutputFormat,
    advancer,
    echo_dry_run,
    echo_row_errors,
    echo_written,
    fail,
    fail_invalid_rows,
    iso_time,
    load_settings,
    open_database,
    output_format,
    print_fields,
    print_wire_table,
    progress_bar,
    row_id,
)
from cartgroups.cli.customers_io import WIRE_NAMES, CsvWriter, JsonWriter, Row, read_rows
from cartgroups.cli.tabular import FileProblem, detect_format
from cartgroups.customer_model import (
    CUSTOMER_FIELDS,
    CUSTOMER_GROUP_ID,
    CUSTOMER_ID,
    EMAIL,
    PASSWORD,
    STORED,
    Customer,
    customer_object,
    filter_key,
    with_customer_values,
)
from cartgroups.errors import Invalid, NotFound
from cartgroups.model import INT32_MAX, decimal_text
from cartgroups.service import validation
from cartgroups.service.credentials import Principal, normalise_secure_url, store_id_of
from cartgroups.service.customers import EMAIL_TAKEN, NO_SUCH_GROUP, CustomerPage, Customers
from cartgroups.service.writes import Plan, Transaction
from cartgroups.storage.customers import CustomerQuery
from cartgroups.storage.store import open_store

CUSTOMERS_HELP = """Customers of one store, in its database (through the service's rules).

The store is its SecureURL (--store or CARTGROUPS_SECURE_URL), the database --database or
CARTGROUPS_DATABASE_URL. Changes are audited as the application cli:<user>. Examples:

cartgroups customers create --store shop.example.com --email jane@example.com --first-name Jane --group 2

echo 's3cret' | cartgroups customers update 1 --store shop.example.com --password-stdin

cartgroups customers list --store shop.example.com --country US --updated-since 2026-11-01 --json

cartgroups customers list --store shop.example.com --group 2 --count

cartgroups customers export --store shop.example.com -o customers.csv

cartgroups customers import customers.csv --store other.example.com --dry-run

Export never writes a password (the Password column is always empty); import hashes a non-empty
one. CSV cannot tell an empty text from one never set: both are an empty cell, read back as not
given (JSON keeps the difference)."""

customers_app = typer.Typer(help=CUSTOMERS_HELP, no_args_is_help=True)

PAGE = 500  # the API's largest page; export and --all read this many at a time
CHUNK = 100  # import rows per transaction
CHECKS_AT_ONCE = 32  # import rows checked at once (a password is hashed on a thread)
T = TypeVar("T")

STORE = typer.Option(
    ..., "--store", envvar="CARTGROUPS_SECURE_URL", help="The store's SecureURL.", show_envvar=True
)


class Format(StrEnum):
    auto = "auto"
    csv = "csv"
    json = "json"


@dataclass(frozen=True, slots=True)
class Session:
    service: Customers
    store_id: int
    principal: Principal


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = ""
    return f"cli:{user}" if user else "cli"


def _run(database: str | None, store: str, work: Callable[[Session], Awaitable[T]]) -> T:
    """Run ``work`` on the store's customers; every expected failure is one ``error:`` line."""
    settings = load_settings(database_url=database)
    with open_database(database) as db:
        secure_url = normalise_secure_url(store)
        store_id = store_id_of(db, secure_url)
        principal = Principal(store_id, secure_url, can_read=True, can_write=True, application=_actor())

        async def main() -> T:
            backend = open_store(db, pool_size=2)
            await backend.open()
            try:
                service = Customers(
                    backend,
                    max_bulk_items=settings.max_bulk_items,
                    zone=ZoneInfo(settings.store_timezone),
                )
                return await work(Session(service, store_id, principal))
            finally:
                await backend.close()

        return asyncio.run(main())


# --- reading pages ------------------------------------------------------------------------------


def _when(raw: str | None, option: str) -> float | None:
    """An ISO 8601 time (a date, or a date and time; UTC when it has no offset), as epoch seconds."""
    when = iso_time(raw, option)
    return None if when is None else when.timestamp()


def _query(
    service: Customers, texts: Mapping[str, str | None], since: float | None, until: float | None
) -> CustomerQuery:
    try:
        page = service.page_of({name: value for name, value in texts.items() if value is not None})
    except Invalid as exc:
        fail(exc.message)
    return dataclasses.replace(page.query, updated_from=since, updated_to=until)


async def _group_exists(s: Session, group_id: int | None) -> None:
    if (
        group_id is not None
        and await s.service.store.get_group(store_id=s.store_id, group_id=group_id) is None
    ):
        fail(f"no customer group {group_id} in this store")


async def _count(s: Session, query: CustomerQuery, group_id: int | None) -> int:
    await _group_exists(s, group_id)
    page = CustomerPage(query, count_only=True)
    if group_id is None:
        return await s.service.count(store_id=s.store_id, page=page)
    return await s.service.count_members(store_id=s.store_id, group_id=group_id, page=page)


async def _page(
    s: Session, query: CustomerQuery, group_id: int | None, limit: int, offset: int
) -> list[Customer]:
    """One page in id order; [] when nothing matches (a page past the end is an error)."""
    page = CustomerPage(query, limit=limit, offset=offset)
    try:
        if group_id is None:
            return await s.service.page(store_id=s.store_id, page=page)
        return await s.service.members(store_id=s.store_id, group_id=group_id, page=page)
    except NotFound:
        return []


async def _pages(s: Session, query: CustomerQuery, group_id: int | None) -> AsyncIterator[list[Customer]]:
    """Every matching customer, a page of PAGE at a time (an async iterator of pages)."""
    offset = 1
    while True:
        try:
            found = await _page(s, query, group_id, PAGE, offset)
        except Invalid:  # customers deleted meanwhile: the end came sooner
            return
        if found:
            yield found
        if len(found) < PAGE:
            return
        offset += PAGE


# --- output -------------------------------------------------------------------------------------

_TABLE_COLUMNS = (
    "CustomerID",
    "Email",
    "BillingFirstName",
    "BillingLastName",
    "BillingCity",
    "BillingCountry",
    "CustomerGroupID",
    "Enabled",
)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


def _json(obj: object) -> str:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode()


def _print_customers(customers: Sequence[Customer], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        typer.echo(_json([customer_object(c) for c in customers]))
        return
    if fmt is OutputFormat.csv:
        CsvWriter(sys.stdout).write(customers)  # as `customers export` writes it
        return
    print_wire_table(
        [dict(zip(WIRE_NAMES, customer, strict=True)) for customer in customers],
        _TABLE_COLUMNS,
        title="Customers",
        right=lambda column: column.endswith("ID"),
        text=_text,
    )


# --- list, get, create, update, delete --------------------------------------------------------

GROUP_FILTER = typer.Option(
    None, "--group", min=1, max=INT32_MAX, help="Only the members of this CustomerGroupID."
)


@customers_app.command("list")
def customers_list(
    store: str = STORE,
    limit: int = typer.Option(50, "--limit", min=1, max=PAGE, help="Customers per page."),
    offset: int = typer.Option(1, "--offset", min=1, help="1-based index of the first customer."),
    all_: bool = typer.Option(False, "--all", help="Every match (ignores --limit and --offset)."),
    email: str = typer.Option(None, "--email", help="Email is this (any case, spaces around ignored)."),
    first_name: str = typer.Option(None, "--first-name", help="BillingFirstName is this (the same)."),
    last_name: str = typer.Option(None, "--last-name", help="BillingLastName is this (the same)."),
    country: str = typer.Option(None, "--country", help="BillingCountry is this (the same)."),
    state: str = typer.Option(None, "--state", help="BillingState is this (the same)."),
    city: str = typer.Option(None, "--city", help="BillingCity is this (the same)."),
    phone: str = typer.Option(None, "--phone", help="BillingPhoneNumber is this (the same)."),
    updated_since: str = typer.Option(
        None, "--updated-since", help="Last changed at or after this ISO 8601 time (UTC if no offset)."
    ),
    updated_until: str = typer.Option(
        None, "--updated-until", help="Last changed at or before this ISO 8601 time (UTC if no offset)."
    ),
    group: int = GROUP_FILTER,
    count: bool = typer.Option(False, "--count", help="Print only how many match (--json: TotalCount)."),
    database: str = DATABASE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List customers in id order; filters combine with AND (as the API's GET /Customers)
    (--format csv: as `customers export` writes them)."""
    chosen = output_format(fmt, as_json)
    texts = {
        "email": email,
        "firstname": first_name,
        "lastname": last_name,
        "country": country,
        "state": state,
        "city": city,
        "phone": phone,
    }
    since, until = _when(updated_since, "--updated-since"), _when(updated_until, "--updated-until")

    async def work(s: Session) -> tuple[int | None, list[Customer]]:
        query = _query(s.service, texts, since, until)
        if count:
            return await _count(s, query, group), []
        await _group_exists(s, group)
        if all_:
            return None, [c async for page in _pages(s, query, group) for c in page]
        return None, await _page(s, query, group, limit, offset)

    total, customers = _run(database, store, work)
    if total is not None:
        typer.echo(_json({"TotalCount": total}) if chosen is OutputFormat.json else str(total))
        return
    _print_customers(customers, chosen)


# Ids are 32-bit (a larger one is no customer's, and neither database's integer takes it).
CUSTOMER_ID_ARGUMENT = typer.Argument(..., min=1, max=INT32_MAX, help="CustomerID.")


def _missing(customer_id: int) -> str:
    return f"no customer {customer_id} in this store"


@customers_app.command("get")
def customers_get(
    customer_id: int = CUSTOMER_ID_ARGUMENT,
    store: str = STORE,
    database: str = DATABASE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one customer (Password is always empty: it is never shown)."""

    async def work(s: Session) -> Customer:
        try:
            return await s.service.get(store_id=s.store_id, customer_id=customer_id)
        except NotFound:
            fail(_missing(customer_id))

    customer = _run(database, store, work)
    if as_json:
        typer.echo(_json(customer_object(customer)))
        return
    print_fields(
        [(spec.wire, _text(value)) for spec, value in zip(CUSTOMER_FIELDS, customer, strict=True)], 30
    )


JSON_FILE = typer.Option(
    None,
    "--json-file",
    help="A JSON object of Customer fields (wire names, any of them), or - for stdin; "
    "the options below override its fields.",
)
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the new password from the first line of standard input."
)
_FIELD_OPTIONS: dict[str, str] = {  # option parameter -> wire name
    "email": "Email",
    "first_name": "BillingFirstName",
    "last_name": "BillingLastName",
    "company": "BillingCompany",
    "phone": "BillingPhoneNumber",
    "city": "BillingCity",
    "state": "BillingState",
    "country": "BillingCountry",
    "group": "CustomerGroupID",
    "enabled": "Enabled",
    "mail_list": "MailList",
    "non_taxable": "NonTaxable",
    "comments": "Comments",
    "reset_password": "ResetPassword",
}
FIRST_NAME = typer.Option(None, "--first-name", help="BillingFirstName.")
LAST_NAME = typer.Option(None, "--last-name", help="BillingLastName.")
COMPANY = typer.Option(None, "--company", help="BillingCompany.")
PHONE = typer.Option(None, "--phone", help="BillingPhoneNumber.")
CITY = typer.Option(None, "--city", help="BillingCity.")
STATE = typer.Option(None, "--state", help="BillingState.")
COUNTRY = typer.Option(None, "--country", help="BillingCountry.")
GROUP = typer.Option(
    None, "--group", min=0, max=INT32_MAX, help="CustomerGroupID: 0 (none) or a group of the store."
)
ENABLED = typer.Option(None, "--enabled/--disabled", help="The account is enabled.")
MAIL_LIST = typer.Option(None, "--mail-list/--no-mail-list", help="On the mailing list.")
NON_TAXABLE = typer.Option(None, "--non-taxable/--taxable", help="Orders are tax exempt.")
COMMENTS = typer.Option(None, "--comments", help="Merchant comments.")
RESET = typer.Option(None, "--reset-password/--no-reset-password", help="Must set a new password.")


def _body(options: dict[str, Any], json_file: str | None, password_stdin: bool) -> dict[str, object]:
    """The Customer object the options make: the --json-file document, then each option given."""
    body: dict[str, object] = {}
    if json_file is not None:
        if json_file == "-" and password_stdin:
            fail("--json-file - and --password-stdin both read standard input; give one")
        try:
            text = sys.stdin.read() if json_file == "-" else Path(json_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {json_file}: {getattr(exc, 'strerror', None) or exc}")
        try:
            document = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            fail(f"{json_file} is not valid JSON: {exc}")
        if not isinstance(document, dict):
            fail(f"{json_file}: expected a JSON object of Customer fields")
        body.update(document)
    for parameter, wire in _FIELD_OPTIONS.items():
        if options.get(parameter) is not None:
            body = {k: v for k, v in body.items() if k.lower() != wire.lower()}
            body[wire] = options[parameter]
    if password_stdin:
        body = {k: v for k, v in body.items() if k.lower() != PASSWORD.key}
        body[PASSWORD.wire] = sys.stdin.readline().rstrip("\r\n")
    return body


@customers_app.command("create")
def customers_create(
    store: str = STORE,
    email: str = typer.Option(None, "--email", help="Email (required, here or in --json-file)."),
    json_file: str = JSON_FILE,
    password_stdin: bool = PASSWORD_STDIN,
    first_name: str = FIRST_NAME,
    last_name: str = LAST_NAME,
    company: str = COMPANY,
    phone: str = PHONE,
    city: str = CITY,
    state: str = STATE,
    country: str = COUNTRY,
    group: int = GROUP,
    enabled: bool = ENABLED,
    mail_list: bool = MAIL_LIST,
    non_taxable: bool = NON_TAXABLE,
    comments: str = COMMENTS,
    reset_password: bool = RESET,
    database: str = DATABASE_OPTION,
) -> None:
    """Create a customer (fields not given take the API's defaults) and print its new id."""
    body = _body(locals(), json_file, password_stdin)

    async def work(s: Session) -> int:
        return await s.service.create(principal=s.principal, body=body)

    typer.echo(_run(database, store, work))


@customers_app.command("update")
def customers_update(
    customer_id: int = CUSTOMER_ID_ARGUMENT,
    store: str = STORE,
    email: str = typer.Option(None, "--email", help="Email."),
    json_file: str = JSON_FILE,
    password_stdin: bool = PASSWORD_STDIN,
    first_name: str = FIRST_NAME,
    last_name: str = LAST_NAME,
    company: str = COMPANY,
    phone: str = PHONE,
    city: str = CITY,
    state: str = STATE,
    country: str = COUNTRY,
    group: int = GROUP,
    enabled: bool = ENABLED,
    mail_list: bool = MAIL_LIST,
    non_taxable: bool = NON_TAXABLE,
    comments: str = COMMENTS,
    reset_password: bool = RESET,
    database: str = DATABASE_OPTION,
) -> None:
    """Change only the given fields of one customer (a CustomerID in --json-file is ignored)."""
    body = _body(locals(), json_file, password_stdin)
    if not {k for k in body if k.lower() != CUSTOMER_ID.key}:
        fail("nothing to change: give at least one field option, e.g. --email, or --json-file")

    async def work(s: Session) -> None:
        try:
            await s.service.update(principal=s.principal, customer_id=customer_id, body=body)
        except NotFound:
            fail(_missing(customer_id))

    _run(database, store, work)
    typer.echo(f"Updated customer {customer_id}.")


@customers_app.command("delete")
def customers_delete(
    customer_id: int = CUSTOMER_ID_ARGUMENT,
    store: str = STORE,
    database: str = DATABASE_OPTION,
) -> None:
    """Delete one customer (its group is not touched)."""

    async def work(s: Session) -> None:
        try:
            await s.service.delete(principal=s.principal, customer_id=customer_id)
        except NotFound:
            fail(_missing(customer_id))

    _run(database, store, work)
    typer.echo(f"Deleted customer {customer_id}.")


# --- export -------------------------------------------------------------------------------------

EXPORT_FORMAT = typer.Option(
    Format.auto, "--format", help="auto (from the --output name; stdout: csv), csv or json."
)
FILE = typer.Argument(..., help="CSV or JSON file, as written by `customers export`.")
IMPORT_FORMAT = typer.Option(Format.auto, "--format", help="auto (from the file name), csv or json.")


@contextmanager
def _target(output: Path | None) -> Iterator[TextIO]:
    """stdout, or a new file in the output's directory that replaces it only once complete."""
    if output is None:
        yield sys.stdout
        return
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, then renamed)
            "w",
            encoding="utf-8",
            newline="",
            dir=output.parent or ".",
            prefix=f".{output.name}.",
            delete=False,
        )
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    done = False
    try:
        with handle:
            yield cast(TextIO, handle)
        os.replace(handle.name, output)
        done = True
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    finally:
        if not done:
            Path(handle.name).unlink(missing_ok=True)


@customers_app.command("export")
def customers_export(
    store: str = STORE,
    output: Path = OUTPUT,
    fmt: Format = EXPORT_FORMAT,
    group: int = GROUP_FILTER,
    no_formula_guard: bool = NO_GUARD_OUT,
    database: str = DATABASE_OPTION,
) -> None:
    """Write every customer of the store (or of one group), in id order, page by page.

    CSV: a header of the 36 wire names, then a row per customer; JSON: an array of Customer objects
    as the API sends them. Password is always empty: a password never leaves the server.
    TotalStoreCredit is written (import ignores it). A file is written under a temporary name
    and takes its name only when complete. CSV text cells carry the formula guard, as in
    `groups export` (unless --no-formula-guard)."""
    try:
        chosen = (
            "csv" if output is None and fmt is Format.auto else detect_format(output or Path(), fmt.value)
        )
    except FileProblem as exc:
        fail(str(exc))
    writer_type = CsvWriter if chosen == "csv" else JsonWriter

    async def work(s: Session) -> int:
        query = CustomerQuery()
        total = await _count(s, query, group)
        written = 0
        with _target(output) as out, progress_bar(total) as progress:
            writer = writer_type(out, formula_guard=not no_formula_guard)
            advance = advancer(progress, "Exporting", total)
            async for page in _pages(s, query, group):
                writer.write(page)
                written += len(page)
                advance(len(page))
            writer.close()
        return written

    written = _run(database, store, work)
    if output is not None:
        typer.echo(f"Exported {written} customers to {output}.", err=True)


# --- import -------------------------------------------------------------------------------------


@dataclass
class Planned:
    row: Row
    plan: Plan[Any]
    customer_id: int | None  # None: a create


@dataclass
class ImportPlan:
    writes: list[Planned] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)


async def _known(s: Session) -> tuple[set[int], dict[str, int]]:
    """The store's group ids, and its customers' e-mails (filter keys) with their ids."""
    groups: set[int] = set()
    while True:
        found = await s.service.store.list_groups(store_id=s.store_id, limit=PAGE, skip=len(groups))
        groups.update(g.group_id for g in found)
        if len(found) < PAGE:
            break
    emails: dict[str, int] = {}
    async for page in _pages(s, CustomerQuery(), None):
        emails.update((filter_key(c.email) or "", c.customer_id) for c in page)
    return groups, emails


async def _check(
    s: Session, row: Row, update: bool, groups: set[int], emails: dict[str, int]
) -> tuple[Plan[Any] | None, int | None]:
    """A row's plan (None: it changes nothing) and the customer it updates; Invalid when the
    service's rules refuse it."""
    if not isinstance(row.data, dict):
        raise Invalid("expected a Customer object")
    folded = validation.fold(row.data)
    customer_id = row_id(folded, CUSTOMER_ID) if update else None
    before: Customer | None = None
    plan: Plan[Any]
    if customer_id is not None:
        try:
            before = await s.service.get(store_id=s.store_id, customer_id=customer_id)
        except NotFound:
            raise Invalid(_missing(customer_id)) from None
        plan = await s.service.plan_update(principal=s.principal, customer_id=customer_id, body=row.data)
    else:
        plan = await s.service.plan_create(principal=s.principal, body=row.data)
    # Valid fields (the plan is made): now the links, as the write will check them (D2, D3).
    _, values, _ = validation.object_values(row.data, STORED, entity="Customer", creating=before is None)
    email = values.get(EMAIL.column)
    if isinstance(email, str):
        owner = emails.get(filter_key(email) or "")
        if owner is not None and owner != customer_id:
            raise Invalid(EMAIL_TAKEN)
    group_id = values.get(CUSTOMER_GROUP_ID.column)
    if isinstance(group_id, int) and group_id != 0 and group_id not in groups:
        raise Invalid(NO_SUCH_GROUP.format(group_id))
    password = folded.get(PASSWORD.key)
    if before is not None and not password and with_customer_values(before, values) == before:
        return None, customer_id
    return plan, customer_id


async def _plan_import(s: Session, rows: Sequence[Row], update: bool) -> ImportPlan:
    result = ImportPlan()
    groups, emails = await _known(s)
    in_file: dict[str, Row] = {}
    ids_in_file: dict[int, Row] = {}
    with progress_bar(len(rows)) as progress:
        advance = advancer(progress, "Checking", len(rows))
        for start in range(0, len(rows), CHECKS_AT_ONCE):
            batch = rows[start : start + CHECKS_AT_ONCE]
            checked = await asyncio.gather(
                *(_check(s, row, update, groups, emails) for row in batch), return_exceptions=True
            )
            for row, outcome in zip(batch, checked, strict=True):
                duplicate = _duplicate(row, update, in_file, ids_in_file)
                if isinstance(outcome, Invalid):
                    result.problems.append(f"{row.where}: {outcome.message}")
                elif isinstance(outcome, BaseException):
                    raise outcome
                elif duplicate:
                    result.problems.append(f"{row.where}: {duplicate}")
                elif outcome[0] is None:
                    result.unchanged += 1
                else:
                    result.writes.append(Planned(row, outcome[0], outcome[1]))
            advance(len(batch))
    return result


def _duplicate(row: Row, update: bool, emails: dict[str, Row], ids: dict[int, Row]) -> str | None:
    """Email (or, with --update, CustomerID) already on an earlier row of the file (invalid
    rows count too, so that each of two rows is reported)."""
    if not isinstance(row.data, dict):
        return None
    folded = validation.fold(row.data)
    problem = None
    email = folded.get(EMAIL.key)
    if isinstance(email, str) and email.strip():
        key = filter_key(email) or ""
        if key in emails:
            problem = f"{EMAIL.wire} {email!r} is also on {emails[key].where}"
        else:
            emails[key] = row
    customer_id = validation.as_integer(folded.get(CUSTOMER_ID.key)) if update else None
    if customer_id is not None:
        if customer_id in ids:
            problem = problem or f"{CUSTOMER_ID.wire} {customer_id} is also on {ids[customer_id].where}"
        else:
            ids[customer_id] = row
    return problem


async def _write(s: Session, writes: Sequence[Planned]) -> tuple[int, int, list[str]]:
    """Write the planned rows, CHUNK to a transaction; a chunk the database refuses is written
    row by row, so only the refused rows fail. Returns (created, updated, failures)."""
    created = updated = 0
    failures: list[str] = []
    with progress_bar(len(writes)) as progress:
        advance = advancer(progress, "Importing", len(writes))
        for start in range(0, len(writes), CHUNK):
            chunk = writes[start : start + CHUNK]

            async def together(tx: Transaction, chunk: Sequence[Planned] = chunk) -> None:
                for item in chunk:
                    await item.plan(tx)

            try:
                await s.service.run(together)
                done = list(chunk)
            except (Invalid, NotFound):
                done = []
                for item in chunk:
                    try:
                        await s.service.run(item.plan)
                        done.append(item)
                    except (Invalid, NotFound) as exc:
                        message = (
                            _missing(item.customer_id)
                            if isinstance(exc, NotFound) and item.customer_id is not None
                            else exc.message
                        )
                        failures.append(f"{item.row.where}: {message}")
            updated += sum(1 for item in done if item.customer_id is not None)
            created += sum(1 for item in done if item.customer_id is None)
            advance(len(chunk))
    return created, updated, failures


@customers_app.command("import")
def customers_import(
    file: Path = FILE,
    store: str = STORE,
    fmt: Format = IMPORT_FORMAT,
    update: bool = typer.Option(
        False,
        "--update",
        help="A row with a CustomerID updates that customer of the store (only the fields given); "
        "without it every row creates a customer and CustomerID is ignored.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row and say what would change."),
    no_formula_guard: bool = NO_GUARD_IN,
    database: str = DATABASE_OPTION,
) -> None:
    """Create (or with --update, update) customers from a CSV or JSON file.

    Every row is checked with the service's rules first: each invalid row is reported as
    `row N (line L): ...` (N counts data rows from 1; L is the CSV line) and then nothing is
    written. Email must be unique in the store and in the file; CustomerGroupID 0 or a group of
    this store. A non-empty Password is hashed and stored; an empty one sets none (or, on
    update, keeps the customer's). TotalStoreCredit is ignored. CSV: an empty cell is a field
    not given (null on create, unchanged on update)."""
    rows: list[Row] = []

    async def work(s: Session) -> tuple[ImportPlan, tuple[int, int, list[str]] | None]:
        try:  # read once the database and store are known to be there
            chosen = detect_format(file, fmt.value)
            rows.extend(read_rows(file, chosen, formula_guard=not no_formula_guard, need_email=not update))
        except FileProblem as exc:
            fail(str(exc))
        plan = await _plan_import(s, rows, update)
        if plan.problems or dry_run:
            return plan, None
        return plan, await _write(s, plan.writes)

    plan, written = _run(database, store, work)
    if plan.problems:
        fail_invalid_rows(plan.problems, len(rows))
    creates = sum(1 for p in plan.writes if p.customer_id is None)
    if written is None:
        echo_dry_run(creates, len(plan.writes) - creates, plan.unchanged, len(rows))
        return
    created, updated, failures = written
    echo_row_errors(failures)
    echo_written(created, updated, plan.unchanged, len(failures))
    if failures:
        fail(f"{len(failures)} rows failed; the others were written")


__all__ = ["customers_app"]
