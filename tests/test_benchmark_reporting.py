"""benchmarks/reporting.py: what a run with several rounds reports (the benchmark itself runs in
CI only with --quick, one round)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the benchmark scripts run

import reporting  # noqa: E402
from loadgen import Measurement  # noqa: E402


def measured(label: str, round_: int, *, rps: float, base: float | None, cpu: float = 50.0) -> Measurement:
    m = Measurement(label.split(":")[1], label, "sqlite", 2, 64, 2, 10.0)
    m.rps, m.baseline_rps, m.cpu_us_per_request, m.p50_ms = rps, base, cpu, 1000 / rps
    m.extra["round"] = round_
    return m


def test_each_scenario_reports_its_median_round_in_the_order_they_ran() -> None:
    ms = [
        measured("s:get", 1, rps=45, base=100),
        measured("s:post", 1, rps=20, base=100),
        measured("s:get", 2, rps=50, base=100),
        measured("s:post", 2, rps=30, base=100),
        measured("s:get", 3, rps=30, base=50),
        measured("s:post", 3, rps=19, base=100),
    ]
    chosen = reporting.median_rounds(ms)
    assert [(m.label, m.extra["round"]) for m in chosen] == [("s:get", 2), ("s:post", 1)]
    assert [r["ratio"] for r in chosen[0].extra["rounds"]] == [0.45, 0.5, 0.6]


def test_a_latency_figure_takes_the_median_p50_and_a_failed_round_is_never_hidden() -> None:
    bulk = [measured("s:bulk", n, rps=rps, base=None) for n, rps in ((1, 100), (2, 400), (3, 200))]
    assert reporting.median_rounds(bulk)[0].extra["round"] == 3  # p50 10, 2.5, 5 ms: 5 ms
    gets = [measured("s:get", n, rps=50, base=100) for n in (1, 2, 3)]
    gets[1].error = "3 answers were 500"
    chosen = reporting.median_rounds(gets)
    assert chosen[0].error == "3 answers were 500"
    assert [r["error"] for r in chosen[0].extra["rounds"]] == [None, "3 answers were 500", None]


def test_the_pair_is_judged_on_the_median_of_its_rounds_differences() -> None:
    small, large = "sqlite-2w:get-small-pair", "sqlite-2w:get-large"
    ms = []
    for n, (cpu_small, cpu_large) in enumerate(((100, 104), (100, 130), (80, 84)), start=1):
        ms += [
            measured(small, n, rps=1000, base=2000, cpu=cpu_small),
            measured(large, n, rps=950, base=2000, cpu=cpu_large),
        ]
    chosen = reporting.median_rounds(ms, pair=(small, large))
    targets = reporting.check_targets(
        chosen, [], main_label="sqlite-2w", large_groups=1_000_000, small_groups=22_000
    )
    pair = next(t for t in targets if t.name.startswith("GET by id, 1,000,000"))
    # rounds: +4 %, +30 %, +5 %: the one slow round does not decide it
    assert pair.met is True
    assert pair.measured.startswith("median of 3 rounds: CPU/request +5.0% (rounds: +4.0%, +30.0%, +5.0%)")


def test_one_round_of_the_pair_is_reported_as_it_is() -> None:
    small, large = "sqlite-2w:get-small-pair", "sqlite-2w:get-large"
    ms = [measured(small, 1, rps=1000, base=2000, cpu=100), measured(large, 1, rps=950, base=2000, cpu=104)]
    chosen = reporting.median_rounds(ms, pair=(small, large))
    targets = reporting.check_targets(
        chosen, [], main_label="sqlite-2w", large_groups=1_000_000, small_groups=22_000
    )
    pair = next(t for t in targets if t.name.startswith("GET by id, 1,000,000"))
    assert pair.measured.startswith("CPU/request 104 vs 100 us (+4.0%); 950 vs 1,000 req/s (-5.0%)")
    assert pair.met is True
