"""``cartgroups groups ...`` against the live in-thread server (SQLite and PostgreSQL).

Most tests run the command in-process with typer's CliRunner; one runs the real command."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartgroups.cli import app
from cartgroups.client import Client
from cartgroups.service.credentials import Issued
from tests.cli.procs import run
from tests.conftest import LiveServer, db_state

HEADER = (
    "CustomerGroupID,Name,Description,MinimumOrder,NonTaxable,AllowRegistration,"
    "DisableRewardPoints,AutoApprove,RegistrationMessage,PriceLevel"
)


class Cli:
    def __init__(self, server: LiveServer, creds: Issued) -> None:
        self.server = server
        self.env = {
            "CARTGROUPS_URL": server.base_url,
            "CARTGROUPS_SECURE_URL": creds.secure_url,
            "CARTGROUPS_PRIVATE_KEY": creds.private_key or "",
            "CARTGROUPS_TOKEN": creds.token,
        }
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, **env: str) -> tuple[str, str]:
        result = self.runner.invoke(app, ["groups", *args], env={**self.env, **env})
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout, result.stderr

    def client(self) -> Client:
        env = self.env
        return Client(
            env["CARTGROUPS_URL"],
            env["CARTGROUPS_SECURE_URL"],
            env["CARTGROUPS_PRIVATE_KEY"],
            env["CARTGROUPS_TOKEN"],
        )


@pytest.fixture
def cli(server: LiveServer, creds: Issued) -> Cli:
    return Cli(server, creds)


def one_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_create_get_list_update_delete(cli: Cli) -> None:
    out, _ = cli(
        "create", "--name", "Wholesale", "--minimum-order", "250.00", "--price-level", "3", "--non-taxable"
    )
    group_id = int(out)
    out, _ = cli("get", str(group_id), "--json")
    got = json.loads(out, parse_float=Decimal)
    assert got["Name"] == "Wholesale" and got["NonTaxable"] is True and got["PriceLevel"] == 3
    assert str(got["MinimumOrder"]) == "250.00"

    cli("update", str(group_id), "--description", "Resellers", "--taxable")
    out, _ = cli("get", str(group_id))
    assert "Description:         Resellers" in out and "NonTaxable:          false" in out
    assert "Name:                Wholesale" in out

    out, _ = cli("list")
    assert "Wholesale" in out and "250.00" in out
    out, _ = cli("list", "--json", "--all")
    assert [g["CustomerGroupID"] for g in json.loads(out)] == [group_id]

    cli("delete", str(group_id))
    assert "No customer groups." in cli("list")[0]
    assert "no customer group" in one_error(cli("get", str(group_id), code=1)[1])
    assert "no customer group" in one_error(cli("delete", str(group_id), code=1)[1])


def test_bad_input_and_bad_credentials_are_one_line_errors(cli: Cli, tmp_path: Path) -> None:
    assert "Name" in one_error(cli("create", "--name", " ", code=1)[1])
    assert "MinimumOrder" in one_error(cli("create", "--name", "x", "--minimum-order", "1e", code=1)[1])
    assert "nothing to change" in one_error(cli("update", "1", code=1)[1])
    err = one_error(cli("list", code=1, CARTGROUPS_TOKEN="0" * 32)[1])
    assert "401" in err and "0" * 32 not in err
    assert "credentials missing" in one_error(cli("list", code=1, CARTGROUPS_TOKEN="")[1])
    err = one_error(cli("list", "--url", "http://127.0.0.1:1", code=1)[1])
    assert "cannot reach http://127.0.0.1:1" in err and cli.env["CARTGROUPS_PRIVATE_KEY"] not in err
    assert "cannot read" in one_error(cli("import", str(tmp_path / "missing.csv"), code=1)[1])
    (tmp_path / "bad.csv").write_text("Nmae\nx\n")
    assert "unknown column 'Nmae'" in one_error(cli("import", str(tmp_path / "bad.csv"), code=1)[1])
    (tmp_path / "bad.json").write_text("{not json")
    assert "not valid JSON" in one_error(cli("import", str(tmp_path / "bad.json"), code=1)[1])
    (tmp_path / "groups.txt").write_text("")
    assert "--format" in one_error(cli("import", str(tmp_path / "groups.txt"), code=1)[1])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_import_round_trip_keeps_exact_decimals(cli: Cli, tmp_path: Path, fmt: str) -> None:
    amounts = ["0", "250.00", "0.1", "79228162514264337593543950335", "1.0000000000000000000000000001"]
    with cli.client() as client:
        for i, amount in enumerate(amounts):
            client.create(name=f"G{i}", minimum_order=Decimal(amount), description='a, "b"\nc')
    sent = [a if "." in a else a + ".0" for a in amounts]  # the server writes an integral value as "N.0"
    out, _ = cli("export", "--format", fmt)
    if fmt == "csv":
        assert out.splitlines()[0] == HEADER
        rows = list(csv.DictReader(io.StringIO(out, newline="")))
        assert [r["MinimumOrder"] for r in rows] == sent
        assert rows[0]["NonTaxable"] == "false" and rows[0]["Description"] == 'a, "b"\nc'
    else:
        assert [str(g["MinimumOrder"]) for g in json.loads(out, parse_float=Decimal)] == sent
    path = tmp_path / f"groups.{fmt}"
    cli("export", "--format", fmt, "--output", str(path))
    written = path.read_bytes().decode()
    assert written.replace("\r\n", "\n") == out  # CliRunner's stdout turns \r\n into \n

    # Into another store: everything is created, then a second run changes nothing.
    with cli.client() as client:
        for group in client.iter_all():
            client.delete(group.group_id)
    out, _ = cli("import", str(path))
    assert "Created 5, updated 0, unchanged 0, failed 0." in out
    again, _ = cli("export", "--format", fmt)
    assert strip_ids(again, fmt) == strip_ids(written, fmt)
    out, _ = cli("import", str(path))
    assert "Created 0, updated 0, unchanged 5, failed 0." in out


def strip_ids(text: str, fmt: str) -> list[object]:
    if fmt == "csv":
        return [row[1:] for row in csv.reader(io.StringIO(text, newline=""))]
    return [
        {k: str(v) for k, v in g.items() if k != "CustomerGroupID"}
        for g in json.loads(text, parse_float=Decimal)
    ]


def test_any_32_bit_price_level_and_0_by_default(cli: Cli, tmp_path: Path) -> None:
    group_id = int(cli("create", "--name", "Seeded", "--price-level", "-48512740")[0])
    plain = int(cli("create", "--name", "Plain")[0])
    cli("update", str(plain), "--price-level", "2147483647")
    out, _ = cli("list", "--json")
    assert [(g["CustomerGroupID"], g["PriceLevel"]) for g in json.loads(out)] == [
        (group_id, -48512740),
        (plain, 2147483647),
    ]
    message = "error: PriceLevel must be an integer from -2147483648 to 2147483647"
    assert one_error(cli("update", str(plain), "--price-level", "2147483648", code=1)[1]) == message
    path = tmp_path / "levels.csv"  # a negative level is a number, not a formula to guard
    path.write_text("Name,PriceLevel\nNegative,-7\nAbsent,\n")
    cli("import", str(path))
    exported = tmp_path / "out.csv"
    cli("export", "--output", str(exported))
    rows = exported.read_text().splitlines()
    assert rows[-2].endswith(",-7") and rows[-1].endswith(",0")


def test_import_updates_by_name_or_by_id(cli: Cli, tmp_path: Path) -> None:
    with cli.client() as client:
        first = client.create(name="Retail")
        client.create(name="Gold", minimum_order=Decimal("10"))
    path = tmp_path / "g.csv"
    path.write_text("Name,MinimumOrder,PriceLevel\nRetail,,2\nGold,10.50,\nNew,,\n")
    assert "would create 1, update 2, leave 0 unchanged" in cli("import", str(path), "--dry-run")[0]
    out, _ = cli("import", str(path))
    assert "Created 1, updated 2, unchanged 0, failed 0." in out
    with cli.client() as client:
        groups = {g.name: g for g in client.iter_all()}
    assert groups["Retail"].price_level == 2 and groups["Retail"].group_id == first
    assert str(groups["Gold"].minimum_order) == "10.50" and groups["Gold"].price_level == 0
    assert "Created 0, updated 0, unchanged 3" in cli("import", str(path))[0]

    by_id = tmp_path / "ids.json"
    by_id.write_text(json.dumps([{"CustomerGroupID": first, "Name": "Retail 2"}, {"Name": "Other"}]))
    out, _ = cli("import", str(by_id), "--match", "id")
    assert "Created 1, updated 1, unchanged 0, failed 0." in out
    with cli.client() as client:
        assert client.get(first).name == "Retail 2" and client.count() == 4


def test_invalid_rows_are_reported_by_number_and_nothing_is_written(cli: Cli, tmp_path: Path) -> None:
    with cli.client() as client:
        client.create(name="Existing")
    before = db_state(cli.server.db)
    path = tmp_path / "bad.csv"
    path.write_text(
        "Name,MinimumOrder,PriceLevel,NonTaxable\n"
        "Fine,1.00,1,true\n"
        ",1,1,false\n"
        "Negative,-1,2147483648,maybe\n"
        "Existing,2,2,false\n"
        "Fine,1,1,true\n"
    )
    for extra in ([], ["--dry-run"]):
        out, err = cli("import", str(path), *extra, code=1)
        lines = err.splitlines()
        assert lines[0] == "row 2: Name must not be empty"
        assert lines[1].startswith("row 3: ") and "MinimumOrder must not be negative" in lines[1]
        assert "PriceLevel" in lines[1] and "NonTaxable" in lines[1]
        assert lines[2] == "row 5: Name 'Fine' is also on row 1"
        assert lines[3] == "error: 3 of 5 rows are invalid; nothing was written"
        assert out == ""
        assert db_state(cli.server.db) == before


def test_dry_run_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps([{"Name": f"G{i}", "MinimumOrder": 1.5} for i in range(3)]))
    before = db_state(cli.server.db)
    out, _ = cli("import", str(path), "--dry-run")
    assert out == "Dry run: would create 3, update 0, leave 0 unchanged (3 rows); nothing was written.\n"
    assert db_state(cli.server.db) == before


@pytest.mark.timeout(360)  # 10,000 audited, committed writes: ~20 s when quiet, minutes on a busy machine
def test_ten_thousand_row_csv_import(
    cli: Cli, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = 10_000
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Name", "Description", "MinimumOrder", "PriceLevel", "AllowRegistration"])
        for i in range(rows):
            writer.writerow([f"Group {i:05d}", f"row {i}", f"{i}.{i % 100:02d}", i % 10 + 1, i % 2 == 0])
    started = time.perf_counter()
    out, err = cli("import", str(path))
    took = time.perf_counter() - started
    assert "Importing" in err and "10000/10000" in err and "rows/s" in err  # the progress bar, on stderr
    assert f"Created {rows}, updated 0, unchanged 0, failed 0." in out
    started = time.perf_counter()
    out, _ = cli("import", str(path))
    again = time.perf_counter() - started
    assert f"Created 0, updated 0, unchanged {rows}, failed 0." in out
    with cli.client() as client:
        assert client.count() == rows
        assert str(client.get(rows).minimum_order) == "9999.99"
    with capsys.disabled():
        kind = database_url.split(":", 1)[0]
        print(f"\n10,000-row import on {kind}: {took:.1f}s ({rows / took:,.0f} rows/s); re-run {again:.1f}s")


def test_real_command_smoke(cli: Cli, tmp_path: Path) -> None:
    created = run(
        ["groups", "create", "--name", "Smoke", "--minimum-order", "5.50"],
        database_url=None,
        cwd=tmp_path,
        **cli.env,
    ).ok()
    group_id = int(created.out)
    listed = run(["groups", "export", "--format", "json"], database_url=None, cwd=tmp_path, **cli.env).ok()
    assert json.loads(listed.out, parse_float=Decimal)[0]["CustomerGroupID"] == group_id
    assert '"MinimumOrder":5.50' in listed.out
    failed = run(["groups", "get", "999"], database_url=None, cwd=tmp_path, **cli.env)
    assert "no customer group 999" in failed.one_line_error()


def test_ambiguous_and_duplicate_matches_are_row_errors(cli: Cli, tmp_path: Path) -> None:
    with cli.client() as client:
        twins = [client.create(name="Twin"), client.create(name="Twin")]
    path = tmp_path / "g.json"
    path.write_text(json.dumps([{"Name": "Twin"}, "not an object", {"Name": "Solo"}]))
    _, err = cli("import", str(path), code=1)
    assert err.splitlines() == [
        f"row 1: Name 'Twin' matches 2 existing groups (ids {twins[0]}, {twins[1]}); use --match id",
        "row 2: expected a CustomerGroup object",
        "error: 2 of 3 rows are invalid; nothing was written",
    ]
    path.write_text(json.dumps([{"CustomerGroupID": twins[1], "Name": "A"}, {"CustomerGroupID": twins[1]}]))
    _, err = cli("import", str(path), "--match", "id", code=1)
    assert err.splitlines()[0] == f"row 2: CustomerGroupID {twins[1]!r} is also on row 1"
    path.write_text(json.dumps([{"CustomerGroupID": "x", "Name": "A"}]))
    _, err = cli("import", str(path), "--match", "id", code=1)
    assert err.splitlines()[0] == "row 1: CustomerGroupID must be an integer from 1 to 2147483647"
    path.write_text(json.dumps([{"CustomerGroupID": twins[0], "Name": "Renamed"}]))
    assert "Created 0, updated 1, unchanged 0, failed 0." in cli("import", str(path), "--match", "id")[0]


def test_parallel_creates_create_every_row_once(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("Name\n" + "".join(f"G{i}\n" for i in range(60)))
    assert "Created 60, updated 0" in cli("import", str(path), "--jobs", "4")[0]
    assert "Created 0, updated 0, unchanged 60" in cli("import", str(path), "--jobs", "4")[0]
    with cli.client() as client:
        assert sorted(g.name for g in client.iter_all()) == sorted(f"G{i}" for i in range(60))
