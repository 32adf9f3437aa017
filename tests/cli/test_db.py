"""``cartgroups db status|upgrade`` on a brand-new database, including upgrades run at once."""

from __future__ import annotations

from pathlib import Path

from cartgroups.storage import migrate
from tests.cli.procs import run, run_all


def test_status_then_concurrent_upgrades_on_an_empty_database(
    fresh_database_url: str, tmp_path: Path
) -> None:
    head = migrate.head_revision()
    url = fresh_database_url
    if url.startswith("sqlite:///"):  # an empty file: commands other than upgrade refuse a missing one
        Path(url.removeprefix("sqlite:///")).touch()
    before = run(["db", "status"], database_url=url, cwd=tmp_path).ok()
    assert before.out.count("\n") == 1
    assert f"revision none (empty), newest {head}: needs `cartgroups db upgrade`" in before.out

    # Two at once: one does the work, the other waits for it and finds nothing to do.
    upgrades = run_all([["db", "upgrade"]] * 2, database_url=url, cwd=tmp_path)
    outputs = [result.ok().out for result in upgrades]
    assert [f"upgraded from empty to {head}" in out for out in outputs].count(True) == 1
    assert [f"already at revision {head}" in out for out in outputs].count(True) == 1

    after = run(["db", "status"], database_url=url, cwd=tmp_path).ok()
    assert f"revision {head}, newest {head}: up to date" in after.out
