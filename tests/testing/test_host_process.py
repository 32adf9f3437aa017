"""An app embedded in another process (the pytest plugin's server, the suite's in-process servers)
leaves that process's garbage collector and logging as they were: the tuning of a server's worker
process is made by `cartgroups serve` only (tests/cli/test_serve_tuning.py)."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from cartgroups.config import Settings
from cartgroups.testing import serve
from cartgroups.testing.server import stop_in_thread
from tests.conftest import start_server


def host_state() -> dict[str, object]:
    return {
        "gc thresholds": gc.get_threshold(),
        "gc frozen objects": gc.get_freeze_count(),
        "logging record fields": (
            logging._srcfile,
            logging.logThreads,
            logging.logProcesses,
            logging.logMultiprocessing,
        ),
        "logging record factory": logging.getLogRecordFactory(),
    }


def test_the_plugins_server_leaves_the_host_process_as_it_found_it() -> None:
    before = host_state()
    with serve() as server:
        assert server.export() == []  # started, and answering
        assert host_state() == before
    assert host_state() == before


def test_an_in_process_server_leaves_the_host_process_as_it_found_it(tmp_path: Path) -> None:
    before = host_state()
    live, thread = start_server(Settings(database_url=f"sqlite:///{tmp_path / 'host.db'}"))
    try:
        assert live.app.services is not None  # started
        assert host_state() == before
    finally:
        stop_in_thread(live.server, thread)
    assert host_state() == before
