"""Profile the hot path (GET by id) with py-spy and say where the time goes.

py-spy samples the running worker from outside (no change to the server). Its "raw" output has
one line per distinct stack: ``frame;frame;...;leaf count``, each frame ``function (file:line)``.
Time spent in C code (sqlite3, orjson, httptools) shows up on the Python line that called it.

Two views are reported, both as a share of the samples in which the worker was busy:
- *self* (exclusive): each sample goes to one bucket, chosen by its innermost frame;
- *inclusive*: a sample counts for every part of the request that is on its stack.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# The sqlalchemy functions whose own line is the call into the database driver (C code).
_DRIVER_CALLS = {
    "do_execute",
    "do_executemany",
    "do_execute_no_params",
    "_fetchone_impl",
    "_fetchall_impl",
    "_fetchmany_impl",
    "fetchone",
    "fetchall",
    "do_commit",
    "do_rollback",
    "do_ping",
}

SOCKET_WRITE = "socket writes (uvicorn transport.write: kernel send + loopback delivery)"
DRIVER = "database driver calls (sqlite3/psycopg C code)"
EVENT_LOOP = "event loop (uvloop C code: epoll, socket reads, httptools parsing)"


@dataclass(frozen=True)
class Frame:
    func: str
    file: str


def parse(raw: str) -> list[tuple[list[Frame], int]]:
    stacks = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        path, _, count = line.rpartition(" ")
        frames = []
        for part in path.split(";"):
            m = _FRAME.match(part.strip())
            frames.append(Frame(m["func"], m["file"]) if m else Frame(part.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def _self_bucket(frames: list[Frame]) -> str:
    leaf = frames[-1]
    f = leaf.file
    if not f:
        return "no Python frame (C code outside any Python call)"
    if f.endswith("protocols/http/httptools_impl.py") and leaf.func == "send":
        return SOCKET_WRITE
    if f.startswith("asyncio/runners.py") or "uvloop" in f:
        return EVENT_LOOP
    if f.endswith("cartgroups/storage/fastpath.py") and leaf.func == "run":
        return DRIVER
    if "sqlalchemy/" in f:
        return DRIVER if leaf.func in _DRIVER_CALLS else "SQLAlchemy Core (Python overhead)"
    if "sqlite3/" in f or "psycopg" in f:
        return DRIVER
    if f.startswith("logging/") or "/logging/" in f:
        return "logging (access line)"
    if "uvicorn/" in f or "httptools" in f:
        return "uvicorn (Python part of the HTTP protocol)"
    if "asyncio/" in f:
        return "asyncio (Python)"
    if "orjson" in f or f.startswith("json/") or f.endswith("cartgroups/api/wire.py"):
        return "JSON (response body)"
    if f.endswith("cartgroups/service/credentials.py") or f.startswith(("hashlib", "hmac")):
        return "authentication (cartgroups code: hashing, compare, cache)"
    if f.endswith("cartgroups/storage/database.py") or "contextlib" in f:
        return "transaction scaffolding (Database.read, contextlib)"
    if "cartgroups/" in f:
        return "other cartgroups code (routing, dispatch, service, storage)"
    return "other (stdlib, dataclasses, ...)"


# (name, predicate on a stack): inclusive costs of the parts of one GET-by-id request.
def _has(frames: list[Frame], file_suffix: str, func: str | None = None) -> bool:
    return any(fr.file.endswith(file_suffix) and (func is None or fr.func == func) for fr in frames)


def _storage(frames: list[Frame]) -> bool:
    return any("cartgroups/storage/" in fr.file or "sqlalchemy/" in fr.file for fr in frames)


_INCLUSIVE: list[tuple[str, Any]] = [
    ("inside the app (CartgroupsApp._http)", lambda s: _has(s, "cartgroups/app.py", "_http")),
    ("outside the app: uvicorn/httptools/event loop", lambda s: not _has(s, "cartgroups/app.py")),
    (
        "sending the response (ASGI send -> socket writes), also in the baseline",
        lambda s: _has(s, "protocols/http/httptools_impl.py", "send"),
    ),
    (
        "authentication (service/credentials.py, incl. its database lookups)",
        lambda s: _has(s, "cartgroups/service/credentials.py"),
    ),
    (
        "  of which the token lookup in the database",
        lambda s: _has(s, "cartgroups/service/credentials.py") and _storage(s),
    ),
    (
        "  of which hashing (sha256 of token and key)",
        lambda s: _has(s, "cartgroups/service/credentials.py", "hash_secret"),
    ),
    (
        "reading/writing the groups (service/customer_groups.py)",
        lambda s: _has(s, "cartgroups/service/customer_groups.py"),
    ),
    ("all database work (cartgroups/storage, SQLAlchemy, driver)", _storage),
    (
        "  of which inside SQLAlchemy",
        lambda s: any("sqlalchemy/" in fr.file for fr in s),
    ),
    (
        "writing the response JSON (api/wire.py)",
        lambda s: _has(s, "cartgroups/api/wire.py"),
    ),
    (
        "request header parsing (dispatch.request_headers)",
        lambda s: _has(s, "cartgroups/api/dispatch.py", "request_headers"),
    ),
    ("access log line (logging)", lambda s: any(fr.file.startswith("logging/") for fr in s)),
]


def summarise(raw: str) -> dict[str, Any]:
    stacks = parse(raw)
    total = sum(count for _, count in stacks)
    self_cost: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, count in stacks:
        self_cost[_self_bucket(frames)] += count
        leaf = frames[-1]
        leaves[f"{leaf.func} ({leaf.file})"] += count
    inclusive = {name: sum(count for frames, count in stacks if test(frames)) for name, test in _INCLUSIVE}

    def pct(n: int) -> float:
        return 100.0 * n / total if total else 0.0

    return {
        "samples": total,
        "self": [(name, pct(n)) for name, n in self_cost.most_common()],
        "inclusive": [(name, pct(n)) for name, n in inclusive.items()],
        "top_leaves": [(name, pct(n)) for name, n in leaves.most_common(15)],
    }


def markdown(summary: dict[str, Any], context: str, baseline: dict[str, Any] | None = None) -> str:
    us = summary.get("us_per_request", 0.0)
    out = [context, "", f"{summary['samples']:,} samples of the busy worker.", ""]
    base_self = dict(baseline["self"]) if baseline else {}
    base_us = baseline.get("us_per_request", 0.0) if baseline else 0.0
    head = "| where | share | us/request |"
    rule = "|---|---:|---:|"
    if baseline:
        head += f" baseline us/request (of {base_us:.0f}) |"
        rule += "---:|"
    out += ["Self time (each sample counted once, by its innermost frame):", "", head, rule]
    names = [name for name, _ in summary["self"]]
    names += [name for name in base_self if name not in names]
    shares = dict(summary["self"])
    for name in names:
        share = shares.get(name, 0.0)
        row = f"| {name} | {share:.1f}% | {share * us / 100:.1f} |"
        if baseline:
            row += f" {base_self.get(name, 0.0) * base_us / 100:.1f} |"
        out.append(row)
    out += [
        "",
        "Inclusive time (a sample counts for every part on its stack):",
        "",
        "| part of the request | share | us/request |",
        "|---|---:|---:|",
    ]
    out += [f"| {name} | {share:.1f}% | {share * us / 100:.1f} |" for name, share in summary["inclusive"]]
    out += ["", "Top 15 innermost frames:", "", "| frame | share |", "|---|---:|"]
    out += [f"| `{name}` | {share:.1f}% |" for name, share in summary["top_leaves"]]
    return "\n".join(out) + "\n"


def summarise_file(path: Path) -> dict[str, Any]:
    return summarise(path.read_text())
