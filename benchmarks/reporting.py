"""The outputs of a run: a printed table, JSON, markdown and a PNG chart; target checks."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import Measurement

TITLES = {
    "baseline": "baseline (bare ASGI, fixed body)",
    "get": "GET by id",
    "count": "GET countonly=1",
    "list": "GET list limit=100",
    "post": "POST (create)",
    "put": "PUT by id",
    "bulk": "PUT bulk, 100 items",
    "mixed": "mixed 90% GET / 10% PUT",
}


@dataclass
class Target:
    name: str
    wanted: str
    measured: str
    met: bool | None  # None: could not be measured (a scenario failed or was skipped)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "wanted": self.wanted, "measured": self.measured, "met": self.met}


def _find(ms: list[Measurement], label: str) -> Measurement | None:
    return next((m for m in ms if m.label == label), None)


def cv(values: list[float]) -> float:
    """Coefficient of variation (standard deviation / mean)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return float(var**0.5 / mean) if mean else 0.0


def baseline_summary(slices: list[Measurement]) -> list[Measurement]:
    """One row per worker count: the mean of the baseline slices measured around the scenarios."""
    rows = []
    for workers in sorted({m.workers for m in slices}):
        mine = [m for m in slices if m.workers == workers and m.ok]
        if not mine:
            continue
        n = len(mine)
        first = mine[0]
        row = Measurement(
            "baseline",
            f"baseline-{workers}w",
            "-",
            workers,
            first.connections,
            first.threads,
            first.duration_s,
        )
        row.requests = sum(m.requests for m in mine)
        row.rps = sum(m.rps for m in mine) / n
        row.p50_ms = sum(m.p50_ms for m in mine) / n
        row.p99_ms = sum(m.p99_ms for m in mine) / n
        row.cpu_other = sum(m.cpu_other for m in mine) / n
        row.cpu_us_per_request = sum(m.cpu_us_per_request for m in mine) / n
        row.baseline_rps = row.rps
        lo, hi = min(m.rps for m in mine), max(m.rps for m in mine)
        row.extra["note"] = f"mean of {n} slices, {lo:,.0f}-{hi:,.0f}"
        rows.append(row)
    return rows


def median_rounds(ms: list[Measurement], pair: tuple[str, str] | None = None) -> list[Measurement]:
    """One measurement per label out of several rounds of the same scenarios: the round with the
    median ratio to the baseline (with no baseline, the median p50), or a failed round if any
    failed (an error is never hidden by a good round). Every round's figures stay in
    ``extra["rounds"]``. ``pair`` (small, large): each round's difference between the two,
    measured one right after the other, goes into the large one's ``extra["pair_rounds"]``."""
    by_label: dict[str, list[Measurement]] = {}
    for m in ms:
        by_label.setdefault(m.label, []).append(m)
    chosen = {label: _median_round(rounds) for label, rounds in by_label.items()}
    if pair is not None and all(label in by_label for label in pair):
        small, large = by_label[pair[0]], by_label[pair[1]]
        if all(m.ok for m in [*small, *large]) and len(small) == len(large):
            chosen[pair[1]].extra["pair_rounds"] = [
                {
                    "round": b.extra.get("round", n),
                    "cpu": b.cpu_us_per_request / a.cpu_us_per_request - 1,
                    "rps": b.rps / a.rps - 1,
                }
                for n, (a, b) in enumerate(zip(small, large, strict=True), start=1)
            ]
    return list(chosen.values())


def _median_round(rounds: list[Measurement]) -> Measurement:
    if len(rounds) == 1:
        return rounds[0]
    failed = next((m for m in rounds if not m.ok), None)
    if failed is not None:
        pick = failed
    elif all(m.ratio is not None for m in rounds):
        pick = sorted(rounds, key=lambda m: m.ratio or 0.0)[(len(rounds) - 1) // 2]
    else:
        pick = sorted(rounds, key=lambda m: m.p50_ms)[(len(rounds) - 1) // 2]
    pick.extra["rounds"] = [
        {
            "round": m.extra.get("round"),
            "rps": m.rps,
            "ratio": m.ratio,
            "p50_ms": m.p50_ms,
            "p99_ms": m.p99_ms,
            "cpu_us_per_request": m.cpu_us_per_request,
            "error": m.error,
        }
        for m in rounds
    ]
    return pick


def _ratio_target(ms: list[Measurement], label: str, name: str, at_least: float) -> Target:
    m = _find(ms, label)
    wanted = f">= {at_least:.2f} x baseline"
    if m is None or m.ratio is None:
        return Target(name, wanted, "not measured", None)
    cpu = f"; CPU cost {m.cpu_ratio:.2f} x" if m.cpu_ratio is not None else ""
    return Target(name, wanted, f"{m.ratio:.2f} x ({m.rps:,.0f} req/s{cpu})", m.ratio >= at_least)


def check_targets(
    ms: list[Measurement],
    rss: list[dict[str, Any]],
    *,
    main_label: str,
    large_groups: int,
    small_groups: int,
) -> list[Target]:
    """The targets of issue #3 (SQLite, the main worker count)."""
    p = f"{main_label}:"
    targets = [
        _ratio_target(ms, p + "get", "GET by id", 0.40),
        _ratio_target(ms, p + "count", "countonly", 0.40),
        _ratio_target(ms, p + "list", "GET list limit=100", 0.10),
        _ratio_target(ms, p + "post", "POST", 0.20),
        _ratio_target(ms, p + "put", "PUT by id", 0.20),
    ]
    bulk = _find(ms, p + "bulk")
    if bulk is None or not bulk.ok:
        targets.append(Target("bulk PUT of 100 items", "p50 <= 25 ms", "not measured", None))
    else:
        targets.append(
            Target("bulk PUT of 100 items", "p50 <= 25 ms", f"p50 {bulk.p50_ms:.1f} ms", bulk.p50_ms <= 25)
        )
    small, large = _find(ms, p + "get-small-pair"), _find(ms, p + "get-large")
    name = f"GET by id, {large_groups:,} vs {small_groups:,} groups"
    if small is None or large is None or not (small.ok and large.ok):
        targets.append(Target(name, "within 15%", "not measured", None))
    else:
        # CPU per request is the cost and hardly moves with other load; req/s is what users
        # see but moves with the machine. Both must stay within 15 %. With several rounds,
        # the median of the rounds' differences.
        rounds = large.extra.get("pair_rounds")
        if rounds and len(rounds) > 1:
            cpu = statistics.median(r["cpu"] for r in rounds)
            raw = statistics.median(r["rps"] for r in rounds)
            each = ", ".join(f"{r['cpu']:+.1%}" for r in rounds)
            measured = (
                f"median of {len(rounds)} rounds: CPU/request {cpu:+.1%} (rounds: {each}); "
                f"req/s {raw:+.1%}; p50 {large.p50_ms:.2f} vs {small.p50_ms:.2f} ms"
            )
        else:
            cpu = large.cpu_us_per_request / small.cpu_us_per_request - 1
            raw = large.rps / small.rps - 1
            measured = (
                f"CPU/request {large.cpu_us_per_request:,.0f} vs {small.cpu_us_per_request:,.0f} us "
                f"({cpu:+.1%}); {large.rps:,.0f} vs {small.rps:,.0f} req/s ({raw:+.1%}); "
                f"p50 {large.p50_ms:.2f} vs {small.p50_ms:.2f} ms"
            )
        targets.append(Target(name, "within 15%", measured, abs(cpu) <= 0.15 and abs(raw) <= 0.15))
    worst = max(
        (r for r in rss if r["server"].startswith(main_label)), key=lambda r: r["peak_rss_mb"], default=None
    )
    if worst is None:
        targets.append(Target("RSS per worker", "<= 120 MB", "not measured", None))
    else:
        targets.append(
            Target(
                "RSS per worker",
                "<= 120 MB",
                f"{worst['peak_rss_mb']:.0f} MB peak ({worst['server']})",
                worst["peak_rss_mb"] <= 120,
            )
        )
    return targets


def _title(m: Measurement) -> str:
    text = TITLES.get(m.scenario, m.scenario)
    notes = [m.extra["note"]] if m.extra.get("note") else []
    if m.extra.get("rounds"):
        notes.append(f"median of {len(m.extra['rounds'])} rounds")
    return text + (f" [{', '.join(notes)}]" if notes else "")


def _rounds_lines(ms: list[Measurement]) -> list[str]:
    """Each round's figure of the scenarios measured in rounds."""
    lines = []
    for m in ms:
        rounds = m.extra.get("rounds")
        if not rounds:
            continue
        if m.ratio is not None:
            each = ", ".join("error" if r["error"] else f"{r['ratio']:.2f}" for r in rounds)
            lines.append(f"- {_title(m)}: x baseline {each}")
        else:
            each = ", ".join("error" if r["error"] else f"{r['p50_ms']:.1f} ms" for r in rounds)
            lines.append(f"- {_title(m)}: p50 {each}")
    return lines


def _rows(ms: list[Measurement]) -> list[list[str]]:
    rows = []
    for m in ms:
        if m.ok:
            ratio = f"{m.ratio:.2f}" if m.ratio is not None else "-"
            cpu_ratio = f"{m.cpu_ratio:.2f}" if m.cpu_ratio is not None else "-"
            if m.scenario == "baseline":
                cpu_ratio = "1.00"
            figures = [
                f"{m.rps:,.0f}",
                f"{m.p50_ms:.2f}",
                f"{m.p99_ms:.2f}",
                ratio,
                f"{m.cpu_us_per_request:,.0f}",
                cpu_ratio,
            ]
        else:
            figures = ["ERROR", "", "", "", "", ""]
        rows.append(
            [_title(m), m.database, str(m.workers), str(m.connections), *figures, f"{m.cpu_other:.2f}"]
        )
    return rows


HEADER = [
    "scenario",
    "database",
    "workers",
    "conns",
    "req/s",
    "p50 ms",
    "p99 ms",
    "x baseline",
    "CPU us/req",
    "CPU x",
    "other CPU",
]


def text_table(ms: list[Measurement]) -> str:
    rows = [HEADER, *_rows(ms)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(report: dict[str, Any], ms: list[Measurement], targets: list[Target]) -> str:
    meta, settings = report["meta"], report["settings"]
    source = meta["source"]
    state = f"commit {source['commit']}" + (
        f" with uncommitted changes to {', '.join(source['modified'])}" if source["modified"] else ""
    )
    out = [
        f"Run {meta['started']} on {meta['machine']}, {state}: `{meta['command']}`",
        "",
        f"Each scenario ran {settings['duration']} s with wrk ({settings['threads']} threads, "
        f"{settings['connections']} connections; bulk PUT {settings['bulk_connections']}) on loopback. "
        f"Data: {settings['stores']:,} stores x {settings['groups']} groups + "
        f"{settings['wide_stores']} stores x {settings['wide_groups']} groups "
        f"(list and bulk use those), load spread over {settings['clients']:,} stores' credentials. "
        f'"x baseline" is req/s divided by the req/s of the bare ASGI app (same uvicorn options, '
        f"same worker count and concurrency): the mean of two {settings['baseline_duration']} s "
        f'slices, right before and right after that scenario. "CPU us/req" is the CPU time the '
        f'server (and, on PostgreSQL, its database backends) spent per request; "CPU x" is the '
        f"baseline's CPU per request (the same two slices) divided by it: a cost ratio that other "
        f"processes on the machine hardly move. "
        f'"other CPU" is CPU (in cores) used during the scenario by processes other than the '
        f"server, its database and wrk: the machine's noise.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(HEADER))) + "|",
    ]
    out += ["| " + " | ".join(row) + " |" for row in _rows(ms)]
    rounds = _rounds_lines(ms)
    if rounds:
        out += [
            "",
            f"Rounds: the SQLite main scenarios and the 1M-vs-22k pair ran {settings['rounds']} "
            "times over; each row above is the round with the median ratio (bulk: median p50), "
            "and the pair's target is the median of the rounds' differences. Every round:",
            "",
            *rounds,
        ]
    out += [
        "",
        "Targets (SQLite, the default; issue #3):",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
    ]
    for t in targets:
        met = {True: "yes", False: "**no**", None: "n/a"}[t.met]
        out.append(f"| {t.name} | {t.wanted} | {t.measured} | {met} |")
    out += [
        "",
        "Peak RSS (VmHWM) per serving process after its scenarios:",
        "",
        "| server | pid | peak RSS MB |",
        "|---|---:|---:|",
    ]
    out += [f"| {r['server']} | {r['pid']} | {r['peak_rss_mb']:.1f} |" for r in report["rss"]]
    noise = report["noise"]
    out += [
        "",
        f"Noise: load average {noise['loadavg_before']} before, {noise['loadavg_after']} after; "
        f"other processes used {noise['other_cpu_mean']:.2f} cores on average during the "
        f"measurements (max {noise['other_cpu_max']:.2f}); the {settings['workers']}-worker "
        f"baseline slices ranged {noise['baseline_min']:,.0f}-{noise['baseline_max']:,.0f} req/s "
        f"(coefficient of variation {noise['baseline_cv']:.1%}).",
    ]
    if source.get("changed_during_run"):
        out += ["", "**Warning: src/ changed during this run; its figures mix code versions.**"]
    errors = [m for m in ms if not m.ok]
    if errors:
        out += ["", "Errors (these scenarios give no figure):", ""]
        out += [f"- {m.label}: {m.error}" for m in errors]
    return "\n".join(out) + "\n"


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def chart(path: Path, ms: list[Measurement], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [m for m in ms if m.ok and m.scenario != "baseline"]
    if not shown:
        return
    labels = [f"{_title(m)} - {m.database}, {m.workers}w" for m in shown]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.42 * len(shown) + 1.8), sharey=True)
    y = list(range(len(shown)))[::-1]
    colours = ["#4c72b0" if m.database.startswith("sqlite") else "#dd8452" for m in shown]
    ax1.barh(y, [m.ratio or 0 for m in shown], color=colours)
    for yy, m in zip(y, shown, strict=True):
        text = (
            f"{m.ratio:.2f} ({m.rps:,.0f}/s)" if m.ratio is not None else f"latency figure ({m.rps:,.0f}/s)"
        )
        ax1.text((m.ratio or 0) + 0.005, yy, text, va="center", fontsize=7)
    for x in (0.1, 0.2, 0.4):
        ax1.axvline(x, color="grey", linestyle=":", linewidth=0.8)
    ax1.set_yticks(y, labels, fontsize=8)
    ax1.set_xlabel("req/s as a fraction of the bare ASGI baseline (dotted: targets 0.1/0.2/0.4)")
    ax1.set_xlim(0, max(0.6, max(m.ratio or 0 for m in shown) * 1.25))
    ax2.barh([v + 0.2 for v in y], [m.p50_ms for m in shown], height=0.4, color=colours, label="p50")
    ax2.barh(
        [v - 0.2 for v in y], [m.p99_ms for m in shown], height=0.4, color=colours, alpha=0.45, label="p99"
    )
    ax2.set_xscale("log")
    ax2.set_xlabel("latency, ms (log scale; solid p50, pale p99)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
