"""PostgreSQL at a distance (issue #16): the same server build, one copy reaching PostgreSQL
through delay_proxy.py at +0 ms and one at +N ms round trip, measured side by side in one run.

This module holds the pieces run.py's ``Run.distance`` phase uses: the proxy process, the
database URL through it, a SELECT 1 round-trip probe, and the pair's summary and tables. The
figure that matters is distant/near, each round's two sides measured one right after the other.
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import Measurement

HERE = Path(__file__).resolve().parent
SCENARIOS = ("get", "post", "put", "mixed")
TITLES = {"get": "GET by id", "post": "POST (create)", "put": "PUT by id", "mixed": "mixed 90% GET / 10% PUT"}
# distant/near throughput the issue asks for (#16, "Done when"); the others are reported only
TARGETS = {"get": 0.60, "post": 0.50}
SIDES = ("near", "far")


@dataclass(frozen=True)
class Proxy:
    port: int
    pid: int
    rtt_ms: float


@contextlib.contextmanager
def proxy(target: tuple[str, int], rtt_ms: float, log: Path) -> Iterator[Proxy]:
    """delay_proxy.py in its own process, listening on 127.0.0.1 (a free port)."""
    argv = [sys.executable, str(HERE / "delay_proxy.py"), "--target", f"{target[0]}:{target[1]}"]
    argv += ["--rtt-ms", f"{rtt_ms:g}"]
    with log.open("ab") as errors:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, text=True
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            process.wait(timeout=10)
            raise RuntimeError(f"the delay proxy did not start (exit {process.returncode}); see {log}")
        yield Proxy(int(line.rsplit(":", 1)[1]), process.pid, rtt_ms)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def target_of(url: str) -> tuple[str, int]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def through(url: str, port: int) -> str:
    """``url`` with its server replaced by the proxy on 127.0.0.1:``port``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def round_trip_ms(url: str, count: int = 200) -> float:
    """Median time of ``SELECT 1`` on one connection to ``url``, in ms: the round trip a
    statement pays, proxy included."""
    import psycopg

    from cartgroups.storage import dialect

    conninfo = dialect.parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        for _ in range(10):
            conn.execute("SELECT 1").fetchall()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchall()
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


@dataclass
class PairRow:
    """One scenario of the pair: the round with the median distant/near ratio."""

    scenario: str
    near: Measurement
    far: Measurement
    ratio: float | None  # far req/s / near req/s of the reported round; None if a side failed
    round_ratios: list[float | None] = field(default_factory=list)

    @property
    def target(self) -> float | None:
        return TARGETS.get(self.scenario)

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio >= self.target

    @property
    def error(self) -> str | None:
        failed = [m for m in (self.near, self.far) if not m.ok]
        return "; ".join(f"{m.label}: {m.error}" for m in failed) or None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "near": self.near.as_dict(),
            "far": self.far.as_dict(),
            "ratio": self.ratio,
            "round_ratios": self.round_ratios,
            "target": self.target,
            "met": self.met,
        }


def summarise(ms: list[Measurement]) -> list[PairRow]:
    """Pair each scenario's near and far measurements round by round (``extra["round"]``,
    ``extra["side"]``) and report, per scenario, the round with the median ratio; a round where
    either side failed is reported instead, so an error is never hidden by a good round."""
    rounds: dict[str, dict[int, dict[str, Measurement]]] = {}
    for m in ms:
        rounds.setdefault(m.scenario, {}).setdefault(int(m.extra["round"]), {})[m.extra["side"]] = m
    rows = []
    for scenario, by_round in rounds.items():
        pairs = [by_round[n] for n in sorted(by_round) if all(side in by_round[n] for side in SIDES)]
        if not pairs:
            continue
        candidates = []
        for pair in pairs:
            near, far = pair["near"], pair["far"]
            ratio = far.rps / near.rps if near.ok and far.ok and near.rps else None
            candidates.append(PairRow(scenario, near, far, ratio))
        every = [c.ratio for c in candidates]
        failed = [c for c in candidates if c.ratio is None]
        if failed:
            row = failed[0]
        else:
            row = sorted(candidates, key=lambda c: c.ratio or 0.0)[(len(candidates) - 1) // 2]
        row.round_ratios = every
        rows.append(row)
    return rows


def noise(ms: list[Measurement]) -> dict[str, float]:
    """CPU (in cores) that other processes used during the pair, and what the proxies used."""
    done = [m for m in ms if m.ok] or [Measurement("-", "-", "-", 0, 0, 0, 0.0)]
    return {
        "other_cpu_mean": statistics.mean(m.cpu_other for m in done),
        "other_cpu_max": max(m.cpu_other for m in done),
        "proxy_cpu_mean": statistics.mean(float(m.extra.get("cpu_proxy", 0.0)) for m in done),
    }


HEADER = ["scenario", "near req/s", "near p50 ms", "far req/s", "far p50 ms", "far/near", "wanted", "met"]


def _cells(row: PairRow) -> list[str]:
    def side(m: Measurement) -> list[str]:
        return [f"{m.rps:,.0f}", f"{m.p50_ms:.2f}"] if m.ok else ["ERROR", ""]

    ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
    wanted = f">= {row.target:.2f}" if row.target is not None else "-"
    met = {True: "yes", False: "**no**", None: "-"}[row.met]
    return [TITLES.get(row.scenario, row.scenario), *side(row.near), *side(row.far), ratio, wanted, met]


def text_table(rows: list[PairRow]) -> str:
    lines = [[*HEADER], *(_cells(r) for r in rows)]
    for line in lines:
        line[-1] = line[-1].replace("**", "")
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for n, line in enumerate(lines):
        cells = enumerate(zip(line, widths, strict=True))
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown(info: dict[str, Any], rows: list[PairRow]) -> str:
    """The pair's table and how it was measured. ``info``: rtt_added_ms, measured_rtt_ms
    {near, far}, workers, connections, threads, duration, rounds, groups, and noise (optional)."""
    rtt = info["measured_rtt_ms"]
    out = [
        f"Both sides: `cartgroups serve --workers {info['workers']}` on one PostgreSQL database of "
        f"{info['groups']:,} groups, each reaching it through its own `benchmarks/delay_proxy.py`: "
        f"near at +0 ms, far at +{info['rtt_added_ms']:g} ms round trip (half each way). "
        f"`SELECT 1` took {rtt['near']:.3f} ms near and {rtt['far']:.3f} ms far (median of 200, "
        f"one connection). wrk {info['threads']} threads, {info['connections']} connections, "
        f"{info['duration']:g} s per side and scenario, {info['rounds']} round(s), the two sides "
        "one right after the other in each round (which goes first alternates); each row is the "
        "round with the median far/near ratio.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---|" + "---:|" * (len(HEADER) - 1),
    ]
    out += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    if info.get("noise"):
        n = info["noise"]
        out += [
            "",
            f"Other processes used {n['other_cpu_mean']:.2f} cores on average during the pair (max "
            f"{n['other_cpu_max']:.2f}); the proxy of the side measured, {n['proxy_cpu_mean']:.2f}.",
        ]
    if any(len(row.round_ratios) > 1 for row in rows):
        out += ["", "far/near of every round:", ""]
        for row in rows:
            each = ", ".join("error" if r is None else f"{r:.2f}" for r in row.round_ratios)
            out.append(f"- {TITLES.get(row.scenario, row.scenario)}: {each}")
    errors = [row.error for row in rows if row.error]
    if errors:
        out += ["", "Errors (these give no figure):", "", *(f"- {e}" for e in errors)]
    return "\n".join(out) + "\n"
