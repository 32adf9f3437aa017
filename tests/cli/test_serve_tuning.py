"""`cartgroups serve` tunes each worker process once its app has started: the garbage collector
settled (gc.freeze, a higher young threshold) and logging's unused record fields off. Checked in
a child process that runs the real serve command, with uvicorn's serving loop replaced by what
every worker does first: load the app from the factory serve names and run its lifespan's start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cartgroups.cli.serve import GC_YOUNG_THRESHOLD
from tests.cli.procs import env_for

WORKER = r"""
import asyncio, gc, json, logging, sys

import uvicorn
from uvicorn.lifespan.on import LifespanOn

from cartgroups.cli import app as cli, serve


def state():
    return {
        "young threshold": gc.get_threshold()[0],
        "frozen objects": gc.get_freeze_count(),
        "record fields": [logging._srcfile is None, logging.logThreads, logging.logProcesses],
    }


def run(sock, app, **options):
    config = uvicorn.Config(app, **options)
    config.load()  # as uvicorn's worker does: the factory serve names
    lifespan = LifespanOn(config)

    async def main():
        before = state()
        await lifespan.startup()
        assert not lifespan.startup_failed
        after = state()
        await lifespan.shutdown()
        return {"before": before, "after": after}

    print("STATE " + json.dumps(asyncio.run(main())), flush=True)


serve.run = run
cli(["serve", "--port", "0", "--log-level", "warning"])
"""


def test_a_serve_worker_is_tuned_once_its_app_has_started(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER],
        cwd=tmp_path,
        env=env_for(f"sqlite:///{tmp_path / 'tuned.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("STATE ")]
    state = json.loads(line.removeprefix("STATE "))
    before, after = state["before"], state["after"]
    assert before["young threshold"] != GC_YOUNG_THRESHOLD
    assert before["frozen objects"] == 0
    assert before["record fields"] == [False, True, True]
    assert after["young threshold"] == GC_YOUNG_THRESHOLD
    assert after["frozen objects"] > 0
    assert after["record fields"] == [True, False, False]
