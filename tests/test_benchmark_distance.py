"""benchmarks/distance.py and run.py's options for the PostgreSQL-at-a-distance pair (issue #16):
how the pair's rounds become one row per scenario, what its tables say, and the URL through the
proxy. The pair itself needs wrk and minutes; it is not run here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the benchmark scripts run

import distance  # noqa: E402
import run  # noqa: E402
from loadgen import Measurement  # noqa: E402


def side(scenario: str, which: str, round_: int, rps: float, *, error: str | None = None) -> Measurement:
    m = Measurement(scenario, f"postgresql-2w-{which}:{scenario}", "postgresql", 2, 64, 2, 10.0)
    m.rps, m.p50_ms, m.error = rps, (64_000 / rps if rps else 0.0), error
    m.extra |= {"side": which, "round": round_}
    return m


def test_each_scenario_reports_the_round_with_the_median_far_to_near_ratio() -> None:
    ms = []
    for n, (near, far) in enumerate(((4000, 600), (4200, 1400), (4100, 820)), start=1):
        ms += [side("get", "near", n, near), side("get", "far", n, far)]
    ms += [side("post", "near", 1, 600), side("post", "far", 1, 330)]
    rows = distance.summarise(ms)
    assert [row.scenario for row in rows] == ["get", "post"]
    get, post = rows
    assert get.near.extra["round"] == get.far.extra["round"] == 3  # ratios 0.15, 0.33, 0.20
    assert get.ratio == pytest.approx(0.2)
    assert get.round_ratios == pytest.approx([0.15, 1 / 3, 0.2])
    assert (get.target, get.met) == (0.60, False)
    assert (post.target, post.met) == (0.50, True)  # 330 / 600 = 0.55


def test_a_failed_side_is_reported_and_never_hidden_by_a_good_round() -> None:
    ms = [
        side("put", "near", 1, 500),
        side("put", "far", 1, 250),
        side("put", "near", 2, 500),
        side("put", "far", 2, 0, error="3 of 900 responses had an unexpected status"),
        side("put", "near", 3, 500),
        side("put", "far", 3, 260),
    ]
    (row,) = distance.summarise(ms)
    assert row.ratio is None and row.met is None
    assert row.round_ratios == [0.5, None, 0.52]
    assert "unexpected status" in (row.error or "")
    table = distance.markdown(info(rounds=3), [row])
    assert "| PUT by id | 500 |" in table and "ERROR" in table
    assert "- PUT by id: 0.50, error, 0.52" in table
    assert "Errors (these give no figure):" in table


def info(rounds: int = 1) -> dict[str, object]:
    return {
        "rtt_added_ms": 1.0,
        "measured_rtt_ms": {"near": 0.08, "far": 1.2},
        "workers": 2,
        "connections": 64,
        "threads": 2,
        "duration": 10.0,
        "rounds": rounds,
        "groups": 22_000,
    }


def test_the_tables_show_each_side_the_ratio_and_the_issues_targets() -> None:
    ms = [side("get", "near", 1, 4000), side("get", "far", 1, 2600)]
    ms += [side("mixed", "near", 1, 3000), side("mixed", "far", 1, 900)]
    for m, other, proxy in zip(ms, (1.2, 0.2, 0.4, 0.2), (0.1, 0.3, 0.1, 0.3), strict=True):
        m.cpu_other, m.extra["cpu_proxy"] = other, proxy
    rows = distance.summarise(ms)
    table = distance.markdown({**info(), "noise": distance.noise(ms)}, rows)
    assert "used 0.50 cores on average during the pair (max 1.20)" in table
    assert "the proxy of the side measured, 0.20" in table
    assert "| GET by id | 4,000 | 16.00 | 2,600 | 24.62 | 0.65 | >= 0.60 | yes |" in table
    assert "| mixed 90% GET / 10% PUT | 3,000 | 21.33 | 900 | 71.11 | 0.30 | - | - |" in table
    assert "+1 ms round trip" in table and "1.200 ms far" in table
    text = distance.text_table(rows)
    assert text.splitlines()[0].split() == [
        "scenario",
        "near",
        "req/s",
        "near",
        "p50",
        "ms",
        "far",
        "req/s",
        "far",
        "p50",
        "ms",
        "far/near",
        "wanted",
        "met",
    ]
    assert "0.65" in text and "**" not in text


def test_the_servers_reach_the_database_through_the_proxy_with_everything_else_kept() -> None:
    url = "postgresql://bench:s3cret@db.example:6543/cartgroups_bench_1?sslmode=disable"
    assert distance.target_of(url) == ("db.example", 6543)
    assert distance.target_of("postgresql://postgres@127.0.0.1/postgres") == ("127.0.0.1", 5432)
    assert (
        distance.through(url, 41000)
        == "postgresql://bench:s3cret@127.0.0.1:41000/cartgroups_bench_1?sslmode=disable"
    )


def test_the_pairs_options() -> None:
    args = run.parse_args(["--distance-only", "--pg-delay-ms", "0.5", "--scenarios", "get,post"])
    assert (args.distance_only, args.pg_delay_ms, args.scenarios) == (True, 0.5, ["get", "post"])
    assert run.parse_args([]).pg_delay_ms == 1.0
    for wrong in (
        ["--pg-delay-ms", "-1"],
        ["--distance-only", "--no-distance"],
        ["--distance-only", "--scenarios", "count,list"],
    ):
        with pytest.raises(SystemExit):
            run.parse_args(wrong)
