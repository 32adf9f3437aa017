"""``cartgroups groups ...``: customer groups of one store, through the API of any server (the SDK).

Credentials come from --url/--secure-url/--private-key/--token or CARTGROUPS_URL,
CARTGROUPS_SECURE_URL, CARTGROUPS_PRIVATE_KEY, CARTGROUPS_TOKEN; they are never printed.

``import`` is safe to re-run. With ``--match name`` (the default) a row whose Name equals (exactly,
case-sensitively) the Name of an existing group updates that group, and any other row creates a
group; a second run of the same file therefore creates nothing and changes nothing. With
``--match id`` a row whose CustomerGroupID is an existing group's updates it and every other row
creates a group (whose id the server assigns), so only rows carrying the store's own ids are
matched again on a second run. Every row is checked with the server's own rules before anything
is written; a file with any invalid row writes nothing.

CSV files carry the formula guard (cli.tabular): export writes ``'`` before a text cell a spreadsheet
would run as a formula, and import takes it off, so a file round-trips exactly either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import typer

from cartgroups.cli.common import (
    FORMAT_OPTION,
    JSON_OPTION,
    NO_GUARD_IN,
    NO_GUARD_OUT,
    OUTPUT,
    ROW_ERRORS_SHOWN,
    OutputFormat,
    advancer,
    client_errors,
    echo_dry_run,
    echo_written,
    fail,
    fail_invalid_rows,
    output_format,
    print_fields,
    print_wire_table,
    progress_bar,
    row_id,
)
from cartgroups.cli.groups_io import FileProblem, detect_format, dumps, read_rows, write_csv, write_json
from cartgroups.client import (
    CartgroupsAPIError,
    Client,
    CustomerGroup,
    NotFound,
    Unauthorized,
)
from cartgroups.errors import Invalid
from cartgroups.model import EDITABLE, ID, NAME
from cartgroups.service.validation import fold, group_values

groups_app = typer.Typer(
    help="Customer groups of one store, on any cartgroups or 3dcart server.", no_args_is_help=True
)

CHUNK = 100  # items per bulk PUT (the server accepts up to 1000 by default)
PAGE = 500  # the API's largest page
T = TypeVar("T")

URL = typer.Option(
    "http://127.0.0.1:8000", "--url", envvar="CARTGROUPS_URL", help="Server base URL.", show_envvar=True
)
SECURE_URL = typer.Option(
    None, "--secure-url", envvar="CARTGROUPS_SECURE_URL", help="The store's SecureURL.", show_envvar=True
)
PRIVATE_KEY = typer.Option(
    None, "--private-key", envvar="CARTGROUPS_PRIVATE_KEY", help="Application PrivateKey.", show_envvar=True
)
TOKEN = typer.Option(None, "--token", envvar="CARTGROUPS_TOKEN", help="Store Token.", show_envvar=True)


class Format(StrEnum):
    csv = "csv"
    json = "json"


class InFormat(StrEnum):
    auto = "auto"
    csv = "csv"
    json = "json"


class Match(StrEnum):
    name = "name"
    id = "id"


@contextmanager
def connect(url: str, secure_url: str | None, private_key: str | None, token: str | None) -> Iterator[Client]:
    """A client for the store, with every SDK failure turned into one ``error:`` line."""
    if not (secure_url and private_key and token):
        fail(
            "credentials missing: give --secure-url, --private-key and --token "
            "(or CARTGROUPS_SECURE_URL, CARTGROUPS_PRIVATE_KEY, CARTGROUPS_TOKEN)"
        )
    with (
        client_errors(url, refused="the credentials"),
        Client(url, secure_url, private_key, token, timeout=30.0) as client,
    ):
        yield client


def _fields(**options: Any) -> dict[str, object]:
    """Wire-named values of the options that were given, checked with the server's rules."""
    given = {spec.wire: options[spec.column] for spec in EDITABLE if options.get(spec.column) is not None}
    try:
        values = group_values(given, creating=False)
    except Invalid as exc:
        fail(exc.message)
    return values


def _row(group: CustomerGroup) -> dict[str, Any]:
    return group.to_wire()


def _print_groups(groups: Sequence[CustomerGroup], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        typer.echo(dumps([_row(g) for g in groups]))
        return
    if fmt is OutputFormat.csv:
        write_csv(groups, sys.stdout)  # as `groups export` writes it, formula guard included
        return
    print_wire_table(
        [_row(g) for g in groups],
        ["CustomerGroupID", "Name", "MinimumOrder", "PriceLevel", "NonTaxable", "AllowRegistration"],
        title="Customer groups",
        right=lambda column: column in ("CustomerGroupID", "MinimumOrder"),
        text=_text,
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


EXPORT_FORMAT = typer.Option(Format.csv, "--format", help="csv (header: the wire names) or json.")
FILE = typer.Argument(..., help="CSV or JSON file, as written by `groups export`.")
IMPORT_FORMAT = typer.Option(InFormat.auto, "--format", help="auto (from the file name), csv or json.")
MATCH = typer.Option(
    Match.name,
    "--match",
    help="How a row finds its group: name (exact Name; safe to re-run) or id (CustomerGroupID).",
)


# --- list, get, create, update, delete --------------------------------------------------------


@groups_app.command("list")
def groups_list(
    limit: int = typer.Option(50, "--limit", min=1, max=PAGE, help="Groups per page."),
    offset: int = typer.Option(1, "--offset", min=1, help="1-based index of the first group."),
    all_: bool = typer.Option(False, "--all", help="Every group (ignores --limit and --offset)."),
    fmt: OutputFormat = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """List groups in id order (--format csv: as `groups export` writes them)."""
    chosen = output_format(fmt, as_json)
    with connect(url, secure_url, private_key, token) as client:
        groups = list(client.iter_all(PAGE)) if all_ else client.list(limit=limit, offset=offset)
    _print_groups(groups, chosen)


@groups_app.command("get")
def groups_get(
    group_id: int = typer.Argument(..., help="CustomerGroupID."),
    as_json: bool = JSON_OPTION,
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """Show one group."""
    with connect(url, secure_url, private_key, token) as client:
        group = _or_missing(group_id, lambda: client.get(group_id))
    if as_json:
        typer.echo(dumps(_row(group)))
        return
    print_fields(((key, _text(value)) for key, value in _row(group).items()), 21)


def _or_missing(group_id: int, call: Callable[[], T]) -> T:
    try:
        return call()
    except NotFound:
        fail(f"no customer group {group_id} in this store")


NAME_OPT = typer.Option(None, "--name", help="Name (1 to 150 characters).")
DESCRIPTION_OPT = typer.Option(None, "--description", help="Description.")
MINIMUM_OPT = typer.Option(None, "--minimum-order", help="Minimum order total, an exact decimal.")
NON_TAXABLE_OPT = typer.Option(None, "--non-taxable/--taxable", help="Orders are tax exempt.")
ALLOW_REG_OPT = typer.Option(None, "--allow-registration/--no-allow-registration", help="Self-registration.")
NO_POINTS_OPT = typer.Option(None, "--disable-reward-points/--reward-points", help="No reward points.")
AUTO_APPROVE_OPT = typer.Option(None, "--auto-approve/--no-auto-approve", help="Approve registrations.")
MESSAGE_OPT = typer.Option(None, "--registration-message", help="Shown to shoppers who register.")
PRICE_LEVEL_OPT = typer.Option(
    None, "--price-level", help="Price level, a 32-bit integer (the store's UI uses 1 to 10)."
)


@groups_app.command("create")
def groups_create(
    name: str = typer.Option(..., "--name", help="Name (1 to 150 characters)."),
    description: str = DESCRIPTION_OPT,
    minimum_order: str = MINIMUM_OPT,
    non_taxable: bool = NON_TAXABLE_OPT,
    allow_registration: bool = ALLOW_REG_OPT,
    disable_reward_points: bool = NO_POINTS_OPT,
    auto_approve: bool = AUTO_APPROVE_OPT,
    registration_message: str = MESSAGE_OPT,
    price_level: int = PRICE_LEVEL_OPT,
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """Create a group (fields not given take the server's defaults) and print its new id."""
    values = _fields(**locals())
    with connect(url, secure_url, private_key, token) as client:
        typer.echo(client.create(**values))


@groups_app.command("update")
def groups_update(
    group_id: int = typer.Argument(..., help="CustomerGroupID."),
    name: str = NAME_OPT,
    description: str = DESCRIPTION_OPT,
    minimum_order: str = MINIMUM_OPT,
    non_taxable: bool = NON_TAXABLE_OPT,
    allow_registration: bool = ALLOW_REG_OPT,
    disable_reward_points: bool = NO_POINTS_OPT,
    auto_approve: bool = AUTO_APPROVE_OPT,
    registration_message: str = MESSAGE_OPT,
    price_level: int = PRICE_LEVEL_OPT,
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """Change only the given fields of one group."""
    values = _fields(**locals())
    if not values:
        fail("nothing to change: give at least one field option, e.g. --name")
    with connect(url, secure_url, private_key, token) as client:
        _or_missing(group_id, lambda: client.update(group_id, **values))
    typer.echo(f"Updated group {group_id}.")


@groups_app.command("delete")
def groups_delete(
    group_id: int = typer.Argument(..., help="CustomerGroupID."),
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """Delete one group."""
    with connect(url, secure_url, private_key, token) as client:
        _or_missing(group_id, lambda: client.delete(group_id))
    typer.echo(f"Deleted group {group_id}.")


# --- export -------------------------------------------------------------------------------------


@groups_app.command("export")
def groups_export(
    fmt: Format = EXPORT_FORMAT,
    output: Path = OUTPUT,
    no_formula_guard: bool = NO_GUARD_OUT,
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """Write every group, MinimumOrder exactly as the server sent it.

    CSV text cells carry a formula guard (unless --no-formula-guard): one that starts with
    = + - @ tab or CR, such as =HYPERLINK(...), is written '=HYPERLINK(...), which a spreadsheet
    shows as text instead of running it. `groups import` takes the ' off again, so the file
    round-trips exactly (a Name that really starts with '= is written ''=). JSON is exact."""
    write = write_csv if fmt is Format.csv else write_json
    with connect(url, secure_url, private_key, token) as client:
        groups = _read_all(client)  # all read before the file is touched
    if output is None:
        write(groups, sys.stdout, formula_guard=not no_formula_guard)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as out:
            write(groups, out, formula_guard=not no_formula_guard)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"Exported {len(groups)} groups to {output}.", err=True)


# --- import -------------------------------------------------------------------------------------


@dataclass
class Plan:
    creates: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def _same(old: object, new: object) -> bool:
    if isinstance(old, Decimal) and isinstance(new, Decimal):
        return format(old, "f") == format(new, "f")  # the exact text, not only the value
    return old == new


def plan_import(rows: Sequence[object], existing: Sequence[CustomerGroup], match: Match) -> Plan:
    """What to do with each row; every invalid row is a problem and nothing may then be written."""
    plan = Plan()
    by_id = {g.group_id: g for g in existing}
    by_name: dict[str, list[CustomerGroup]] = {}
    for group in existing:
        by_name.setdefault(group.name, []).append(group)
    seen: dict[object, int] = {}
    for number, obj in enumerate(rows, start=1):
        try:
            if not isinstance(obj, dict):
                raise Invalid("expected a CustomerGroup object")
            folded = fold(obj)
            key: object = row_id(folded, ID) if match is Match.id else folded.get(NAME.key)
            target = _target(key, match, by_id, by_name)
            if key is not None and key != "":
                if key in seen:
                    what = ID.wire if match is Match.id else NAME.wire
                    raise Invalid(f"{what} {key!r} is also on row {seen[key]}")
                seen[key] = number
            if target is None:
                values = group_values(obj, creating=True)
                plan.creates.append((number, values))
                continue
            changed = {
                column: value
                for column, value in group_values(obj, creating=False).items()
                if not _same(getattr(target, column), value)
            }
            if changed:
                plan.updates.append((number, {ID.column: target.group_id, **changed}))
            else:
                plan.unchanged += 1
        except Invalid as exc:
            plan.problems.append(f"row {number}: {exc.message}")
    return plan


def _target(
    key: object, match: Match, by_id: dict[int, CustomerGroup], by_name: dict[str, list[CustomerGroup]]
) -> CustomerGroup | None:
    if match is Match.id:
        return by_id.get(key) if isinstance(key, int) else None
    found = by_name.get(key, []) if isinstance(key, str) else []
    if len(found) > 1:
        ids = ", ".join(str(g.group_id) for g in found)
        raise Invalid(f"Name {key!r} matches {len(found)} existing groups (ids {ids}); use --match id")
    return found[0] if found else None


def _read_all(client: Client) -> list[CustomerGroup]:
    """Every group of the store, page by page, with the same progress bar as import."""
    total = client.count()
    groups: list[CustomerGroup] = []
    with progress_bar(total) as progress:
        advance = advancer(progress, "Exporting", total)
        for group in client.iter_all(PAGE):
            groups.append(group)
            if len(groups) % PAGE == 0:
                advance(PAGE)
        advance(len(groups) % PAGE)
    return groups


def _apply(client: Client, plan: Plan, jobs: int) -> tuple[int, int, list[str]]:
    """Send the plan; returns (created, updated, failures)."""
    created = updated = 0
    failures: list[tuple[int, str]] = []
    total = len(plan.creates) + len(plan.updates)
    with progress_bar(total) as progress:
        advance = advancer(progress, "Importing", total)

        for start in range(0, len(plan.updates), CHUNK):
            chunk = plan.updates[start : start + CHUNK]
            results = client.bulk_update([item for _, item in chunk])
            for (number, _), result in zip(chunk, results, strict=True):
                if result.ok:
                    updated += 1
                else:
                    failures.append((number, f"{result.status}: {result.message}"))
            advance(len(chunk))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(client.create, **values): number for number, values in plan.creates}
            try:
                for future in as_completed(futures):
                    try:
                        future.result()
                        created += 1
                    except CartgroupsAPIError as exc:
                        if isinstance(exc, Unauthorized):
                            raise
                        failures.append((futures[future], f"{exc.status}: {exc.message}"))
                    advance(1)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return created, updated, [f"row {n}: {message}" for n, message in sorted(failures)]


@groups_app.command("import")
def groups_import(
    file: Path = FILE,
    fmt: InFormat = IMPORT_FORMAT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row and say what would change."),
    match: Match = MATCH,
    no_formula_guard: bool = NO_GUARD_IN,
    jobs: int = typer.Option(
        1,
        "--jobs",
        min=1,
        max=32,
        help="Creates sent at once; above 1, new ids need not follow the file order.",
    ),
    url: str = URL,
    secure_url: str = SECURE_URL,
    private_key: str = PRIVATE_KEY,
    token: str = TOKEN,
) -> None:
    """Create or update groups from a CSV or JSON file (as written by `groups export`).

    Every row is checked with the server's rules first: each invalid row is reported as
    `row N: ...` (N counts data rows from 1) and then nothing is written.

    --match name: a row whose Name equals an existing group's updates that group (only the fields
    that differ, in bulk requests of 100), every other row creates a group; running the same file
    again creates nothing. --match id: the same by CustomerGroupID; rows without the id of an
    existing group are created.

    CSV: the formula guard `groups export` wrote is taken off: a text cell loses one leading '
    only when = + - @ tab or CR follows (after any more 's), so a Name such as 'quoted keeps
    its '. --no-formula-guard reads every cell as it is."""
    try:
        rows = read_rows(file, detect_format(file, fmt.value), formula_guard=not no_formula_guard)
    except FileProblem as exc:
        fail(str(exc))
    with connect(url, secure_url, private_key, token) as client:
        plan = plan_import(rows, list(client.iter_all(PAGE)), match)
        if plan.problems:
            fail_invalid_rows(plan.problems, len(rows))
        if dry_run:
            echo_dry_run(len(plan.creates), len(plan.updates), plan.unchanged, len(rows))
            return
        created, updated, failures = _apply(client, plan, jobs)
    for failure in failures[:ROW_ERRORS_SHOWN]:
        typer.echo(failure, err=True)
    echo_written(created, updated, plan.unchanged, len(failures))
    if failures:
        fail(f"{len(failures)} rows failed; the others were written (re-running the file is safe)")
