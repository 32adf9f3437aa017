"""``cartgroups audit list|prune``: read a store's audit log, and prune it by age."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import cast

import orjson
import typer
from rich.table import Table

from cartgroups.cli.common import (
    DATABASE_OPTION,
    FORMAT_OPTION,
    JSON_OPTION,
    OutputFormat,
    fail,
    iso_time,
    iso_utc,
    load_settings,
    open_database,
    output_format,
    print_rows,
    print_table,
    shown,
)
from cartgroups.service import audit
from cartgroups.service.credentials import normalise_secure_url
from cartgroups.storage.audit import ACTIONS, CUSTOMER, GROUP, RESOURCES, Action, Entry

audit_app = typer.Typer(
    help="The audit log of changes to customer groups and customers.", no_args_is_help=True
)

LIMIT_MAX = 100_000
# Each resource's id field in its wire JSON: left out of the table's change column.
_ID_FIELDS = {GROUP: "CustomerGroupID", CUSTOMER: "CustomerID"}


def _resource(raw: str | None) -> str | None:
    """--resource in any case, as the log spells it."""
    if raw is None:
        return None
    for resource in RESOURCES:
        if raw.strip().lower() == resource.lower():
            return resource
    fail(f"--resource must be one of {', '.join(RESOURCES)} (got {raw!r})")


def _item_filter(
    resource: str | None, group: int | None, customer: int | None
) -> tuple[str | None, int | None]:
    """The resource and item id asked for: --group ID is resource CustomerGroup and that id,
    --customer ID resource Customer and that id; either with another --resource is an error."""
    named = [
        (option, kind, value)
        for option, kind, value in (("--group", GROUP, group), ("--customer", CUSTOMER, customer))
        if value is not None
    ]
    if len(named) > 1:
        fail("give --group or --customer, not both")
    if not named:
        return resource, None
    option, kind, value = named[0]
    if resource is not None and resource != kind:
        fail(f"{option} lists {kind} entries; it cannot be combined with --resource {resource}")
    return kind, value


def _as_json(entry: Entry, secure_url: str, *, csv: bool = False) -> dict[str, object]:
    # "group_id": as before issue #18, for the scripts that read it: on CustomerGroup entries
    # only (CSV: a column of every row, empty for other resources).
    group_id = entry.item_id if entry.resource == GROUP else None
    return {
        "id": entry.id,
        "time": iso_utc(entry.at),
        "store": secure_url,
        "application": entry.application,
        "token_id": entry.token_id,
        "action": entry.action,
        "bulk": entry.bulk,
        "resource": entry.resource,
        "item_id": entry.item_id,
        **({"group_id": group_id} if csv or group_id is not None else {}),
        # The stored JSON as it is, so MinimumOrder keeps its exact digits.
        "before": orjson.Fragment(entry.before) if entry.before is not None else None,
        "after": orjson.Fragment(entry.after) if entry.after is not None else None,
    }


def _fields(text: str | None) -> dict[str, object]:
    if text is None:
        return {}
    return cast(dict[str, object], json.loads(text, parse_float=Decimal))  # 1.50 stays 1.50


def _shown(value: object) -> str:
    return str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)


def describe_change(entry: Entry) -> str:
    """One line for the table: what changed (or what was created or deleted)."""
    before, after = _fields(entry.before), _fields(entry.after)
    id_field = _ID_FIELDS.get(entry.resource)
    if entry.action == "create":
        return ", ".join(f"{k}={_shown(v)}" for k, v in after.items() if k != id_field)
    if entry.action == "delete":
        return "was " + ", ".join(f"{k}={_shown(v)}" for k, v in before.items() if k != id_field)
    changed = [f"{k}: {_shown(before.get(k))} -> {_shown(v)}" for k, v in after.items() if before.get(k) != v]
    return "; ".join(changed) if changed else "(no field changed)"


@audit_app.command("list")
def audit_list(
    store: str = typer.Option(..., "--store", help="The store's SecureURL."),
    resource: str = typer.Option(
        None, "--resource", help="Only changes of this resource: CustomerGroup or Customer (any case)."
    ),
    group: int = typer.Option(None, "--group", help="Only changes of this CustomerGroupID."),
    customer: int = typer.Option(None, "--customer", help="Only changes of this CustomerID."),
    app: str = typer.Option(None, "--app", help="Only changes made by this application."),
    action: str = typer.Option(None, "--action", help="Only create, update or delete."),
    since: str = typer.Option(None, "--since", help="At or after this ISO 8601 time (UTC if no offset)."),
    until: str = typer.Option(None, "--until", help="Before this ISO 8601 time (UTC if no offset)."),
    limit: int = typer.Option(100, "--limit", help="Most entries shown, newest first."),
    database: str = DATABASE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a store's changes to customer groups and customers, newest first, with the values
    before and after (--format csv: before and after as JSON text)."""
    chosen = output_format(fmt, as_json)
    if action is not None and action not in ACTIONS:
        fail(f"--action must be one of {', '.join(ACTIONS)} (got {action!r})")
    if not 1 <= limit <= LIMIT_MAX:
        fail(f"--limit must be from 1 to {LIMIT_MAX} (got {limit})")
    kind, item_id = _item_filter(_resource(resource), group, customer)
    filters = audit.Filters(
        resource=kind,
        item_id=item_id,
        application=app,
        action=cast(Action | None, action),
        since=iso_time(since, "--since"),
        until=iso_time(until, "--until"),
        limit=limit,
    )
    with open_database(database) as db:
        secure_url = normalise_secure_url(store)
        entries = audit.list_entries(db, secure_url=secure_url, filters=filters)
    if chosen is OutputFormat.json:
        rows = [_as_json(e, secure_url) for e in entries]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if chosen is OutputFormat.csv:
        # The stored JSON text of before and after, so MinimumOrder keeps its exact digits.
        print_rows(
            [{**_as_json(e, secure_url, csv=True), "before": e.before, "after": e.after} for e in entries],
            chosen,
            "",
        )
        return
    if not entries:
        typer.echo("No audit entries.")
        return
    table = Table(title=shown(f"Audit log of {secure_url}"), title_style="table.title")
    for column in ("time (UTC)", "application", "token", "action", "resource", "id", "change"):
        table.add_column(column)
    for e in entries:
        table.add_row(  # every cell a Text: a group named [/bold] is data, not markup
            *map(
                shown,
                (
                    e.at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.application or "-",
                    "-" if e.token_id is None else e.token_id,
                    e.action + (" (bulk)" if e.bulk else ""),
                    e.resource,
                    e.item_id,
                    describe_change(e),
                ),
            )
        )
    print_table(table)


@audit_app.command("prune")
def audit_prune(
    days: int = typer.Option(
        None, "--days", help="Keep this many days (default: $CARTGROUPS_AUDIT_RETENTION_DAYS, 90)."
    ),
    database: str = DATABASE_OPTION,
) -> None:
    """Delete audit entries older than the retention period (servers also do this hourly)."""
    settings = load_settings(audit_retention_days=days)
    retention = settings.audit_retention_days
    if retention == 0:
        typer.echo("The audit retention is 0 days, which keeps entries forever: nothing pruned.")
        return
    older_than = audit.cutoff(retention)
    with open_database(database) as db:
        deleted = audit.prune(db, older_than=older_than)
    typer.echo(f"Deleted {deleted} audit entries made before {iso_utc(older_than)} ({retention} days).")
