"""/healthz's database checks (service/health.py) are synchronous statements: they must run off
the event loop, so that a database that does not answer holds up the probe and nothing else."""

from __future__ import annotations

import asyncio
import threading

from cartgroups.service import health
from cartgroups.storage.database import Database


def test_a_probe_of_a_database_that_does_not_answer_leaves_the_event_loop_free() -> None:
    """A "database" that takes connections and never answers them, served on the test's own
    event loop: it can see the probe's connection only while the loop runs, so seeing it while
    the probe still waits proves the probe is not holding the loop."""

    async def scenario() -> tuple[bool, str]:
        arrived = asyncio.Event()
        held: list[asyncio.StreamWriter] = []

        async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)
            arrived.set()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        db = Database(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=5")
        try:
            probe = asyncio.ensure_future(health.database(db))
            await asyncio.wait_for(arrived.wait(), 4)
            waiting = not probe.done()
            for writer in held:  # hang up: the probe's connection fails at once
                writer.close()
            return waiting, await probe
        finally:
            server.close()
            db.dispose()

    waiting, answer = asyncio.run(scenario())
    assert waiting
    assert answer == "unreachable"


def test_the_probe_answers_ok_from_its_own_thread(db: Database) -> None:
    seen: list[str] = []
    real = db.health

    def recorded() -> str:
        seen.append(threading.current_thread().name)
        return real()

    db.health = recorded  # type: ignore[method-assign]
    assert asyncio.run(health.database(db)) == "ok"
    assert len(seen) == 1 and seen[0].startswith("cartgroups-sync")
