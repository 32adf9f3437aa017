"""The sandbox layer's calls into the sandbox service run off the event loop
(cartgroups/offloop.py), on both databases: the service is written against the synchronous
Database, and on PostgreSQL each of its calls is a round trip, and seconds while the database
does not answer, which on the loop would hold up every request of the process. Shown for what
every sandboxed 3dcart request does (look the fault rules up, claim the one that fires, write
the journal) and for a control endpoint's call; the calls that only touch memory (record,
check_token) are shown to stay on the loop."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx
import pytest

from cartgroups.service.sandbox import Fault, FaultRow, Sandbox
from tests.conftest import STORE, LiveServer

SYNC_THREAD = "cartgroups-sync"  # offloop.py's thread_name_prefix
GROUPS = "/CustomerGroups"


def _controls(server: LiveServer) -> Sandbox:
    found = server.app.sandbox
    assert found is not None and server.app.sandbox_layer is not None
    assert server.app.sandbox_layer.sandbox is found  # the layer calls this very object
    return found


def test_a_sandboxed_request_looks_faults_up_claims_and_writes_its_journal_off_the_loop(
    sandbox: LiveServer,
    control: httpx.Client,
    sandbox_api: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controls = _controls(sandbox)
    created = control.post("/faults", json={"path": "*/customergroups", "status": 503, "times": 1})
    assert created.status_code == 201, created.text
    real_matching, real_claim = controls.faults_matching, controls.claim
    real_flush, real_record = controls.flush_journal, controls.record
    threads: dict[str, list[str]] = {"faults_matching": [], "claim": [], "flush_journal": [], "record": []}

    def faults_matching(method: str, path: str, secure_url: str | None) -> list[FaultRow]:
        threads["faults_matching"].append(threading.current_thread().name)
        return real_matching(method, path, secure_url)

    def claim(rule: FaultRow) -> Fault | None:
        threads["claim"].append(threading.current_thread().name)
        return real_claim(rule)

    def flush_journal() -> str:
        threads["flush_journal"].append(threading.current_thread().name)
        return real_flush()

    def record(secure_url: str | None, entry: Mapping[str, object]) -> None:
        threads["record"].append(threading.current_thread().name)
        real_record(secure_url, entry)

    monkeypatch.setattr(controls, "faults_matching", faults_matching)
    monkeypatch.setattr(controls, "claim", claim)
    monkeypatch.setattr(controls, "flush_journal", flush_journal)
    monkeypatch.setattr(controls, "record", record)

    response = sandbox_api.get(GROUPS)

    assert response.status_code == 503, response.text  # the rule was found and claimed
    assert threads["faults_matching"] and threads["claim"] and threads["flush_journal"]
    for name in threads["faults_matching"] + threads["claim"] + threads["flush_journal"]:
        assert name.startswith(SYNC_THREAD), name
    # Queueing the entry touches memory only: it stays on the loop (no thread hop for nothing).
    assert threads["record"] and not any(name.startswith(SYNC_THREAD) for name in threads["record"])
    # And the entry was written before the reply, as before.
    monkeypatch.undo()
    [entry] = control.get(f"/stores/{STORE}/journal").json()
    assert entry["status"] == 503 and entry["fault_id"] == created.json()["id"]


def test_a_control_endpoint_reaches_the_database_off_the_loop(
    sandbox: LiveServer,
    control: httpx.Client,
    sandbox_api: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controls = _controls(sandbox)
    real_faults, real_stores, real_check = controls.faults, controls.stores, controls.check_token
    threads: dict[str, list[str]] = {"faults": [], "stores": [], "check_token": []}

    def faults() -> list[FaultRow]:
        threads["faults"].append(threading.current_thread().name)
        return real_faults()

    def stores() -> list[dict[str, object]]:
        threads["stores"].append(threading.current_thread().name)
        return real_stores()

    def check_token(presented: str | None) -> None:
        threads["check_token"].append(threading.current_thread().name)
        real_check(presented)

    monkeypatch.setattr(controls, "faults", faults)
    monkeypatch.setattr(controls, "stores", stores)
    monkeypatch.setattr(controls, "check_token", check_token)

    listed = control.get("/faults")
    found = control.get("/stores")

    assert listed.status_code == 200 and listed.json() == [], listed.text
    assert found.status_code == 200, found.text
    assert [row["SecureURL"] for row in found.json()] == [STORE]
    assert threads["faults"] and threads["stores"]
    for name in threads["faults"] + threads["stores"]:
        assert name.startswith(SYNC_THREAD), name
    # Comparing the token is pure: on the loop.
    assert threads["check_token"] and not any(name.startswith(SYNC_THREAD) for name in threads["check_token"])


def test_an_error_off_the_loop_is_the_same_reply(
    sandbox: LiveServer, control: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the service raises on its thread reaches the client as before (NotFound -> 404)."""
    controls = _controls(sandbox)
    real_fault = controls.fault
    threads: list[str] = []

    def fault(fault_id: int) -> FaultRow:
        threads.append(threading.current_thread().name)
        return real_fault(fault_id)

    monkeypatch.setattr(controls, "fault", fault)

    response = control.get("/faults/12345")

    assert response.status_code == 404, response.text
    assert "There is no fault rule 12345" in response.text
    assert threads and all(name.startswith(SYNC_THREAD) for name in threads)
