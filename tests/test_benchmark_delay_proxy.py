"""benchmarks/delay_proxy.py: the TCP proxy that puts the database at a distance (issue #16).
Checked here: every byte arrives, in order, both ways; nothing arrives before its deadline; a
chunk's deadline is its own arrival plus the delay, never added up behind others; the end of a
stream passes; the command starts, forwards and stops. No upper bound on time is asserted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # as the benchmark scripts run

import delay_proxy  # noqa: E402

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    loop = delay_proxy.new_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    finally:
        loop.close()


async def through_proxy(handler: Handler, delay: float) -> tuple[asyncio.Server, delay_proxy.DelayProxy]:
    target = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    proxy = delay_proxy.DelayProxy(("127.0.0.1", port), delay)
    await proxy.start()
    return target, proxy


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_every_byte_comes_back_in_order_both_ways_through_a_busy_connection() -> None:
    # 8 MiB in chunks of many sizes: more than the proxy holds before it stops reading (4 MiB),
    # so its back-pressure is in play too.
    chunks = [bytes([n % 251]) * (1 + (n * 7919) % 70_000) for n in range(240)]
    sent = b"".join(chunks)

    async def scenario() -> None:
        target, proxy = await through_proxy(echo, delay=0.002)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)

        async def send() -> None:
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send())
        received = await reader.read(-1)  # until the echo's end of stream comes back
        await sender
        writer.close()
        proxy.close()
        target.close()
        assert len(received) == len(sent)
        assert received == sent

    run(scenario)


def test_nothing_arrives_before_its_delay_in_either_direction() -> None:
    delay = 0.003
    arrived_at_target: list[float] = []
    replied_at: list[float] = []

    async def stamp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while line := await reader.readline():
            arrived_at_target.append(loop.time())
            replied_at.append(loop.time())
            writer.write(line)
            await writer.drain()
        writer.close()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        target, proxy = await through_proxy(stamp, delay)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        for n in range(20):
            sent_at = loop.time()
            writer.write(b"ping %d\n" % n)
            assert await reader.readline() == b"ping %d\n" % n
            back_at = loop.time()
            assert arrived_at_target[n] - sent_at >= delay, "client to target came early"
            assert back_at - replied_at[n] >= delay, "target to client came early"
        writer.close()
        proxy.close()
        target.close()

    run(scenario)


class FakeLoop:
    """A clock that moves only when told, and a record of the timers set."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[float] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        self.timers.append(when)
        return Timer()


class Timer:
    def cancel(self) -> None:
        pass


class Sink:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.written.append(b"<eof>")


class Source:
    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass


class Link:
    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.ends = 0

    def eof_delivered(self) -> None:
        self.ends += 1


def test_each_chunk_waits_its_own_delay_from_its_arrival_not_after_the_one_before() -> None:
    clock = FakeLoop()
    link = Link(clock)
    direction = delay_proxy._Direction(link, 1.0, Source())  # type: ignore[arg-type]
    sink = Sink()
    direction.sink = sink  # type: ignore[assignment]
    for at, data in ((0.0, b"a"), (0.1, b"b"), (0.25, b"c")):
        clock.now = at
        direction.push(data)
    clock.now = 0.3
    direction.push(None)
    assert sink.written == []  # nothing before its deadline
    assert clock.timers == [1.0]  # one timer: the first chunk's deadline
    for now, expected in (
        (0.99, []),
        (1.0, [b"a"]),
        (1.2, [b"a", b"b"]),
        (1.3, [b"a", b"b", b"c", b"<eof>"]),
    ):
        clock.now = now
        direction.flush()
        assert sink.written == expected
    # each next timer is the next chunk's own arrival + 1 s: 1.1 after 1.0, never 2.0, 3.0, ...
    assert clock.timers == [1.0, 1.0, 1.1, 1.25]
    assert link.ends == 1


def test_the_end_of_each_stream_passes_and_the_link_closes_after_both() -> None:
    async def reply_then_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read(-1)  # the client's end of stream must arrive
        writer.write(b"got " + request)
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        target, proxy = await through_proxy(reply_then_end, delay=0.001)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hello")
        writer.write_eof()
        assert await reader.read(-1) == b"got hello"
        writer.close()
        for _ in range(200):  # both ends delivered: the proxy lets the connection go
            if not proxy.links:
                break
            await asyncio.sleep(0.01)
        assert not proxy.links
        proxy.close()
        target.close()

    run(scenario)


def test_the_command_forwards_until_it_is_told_to_stop() -> None:
    async def serve_echo() -> tuple[asyncio.Server, int]:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        return server, int(server.sockets[0].getsockname()[1])

    loop = delay_proxy.new_loop()
    target, port = loop.run_until_complete(serve_echo())
    command = [sys.executable, str(ROOT / "benchmarks" / "delay_proxy.py")]
    proxy = subprocess.Popen(
        [*command, "--target", f"127.0.0.1:{port}", "--rtt-ms", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None
        line = proxy.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:")
        proxy_port = int(line.rsplit(":", 1)[1])

        async def talk() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
            writer.write(b"over the distance")
            writer.write_eof()
            answer = await reader.read(-1)
            writer.close()
            return answer

        assert loop.run_until_complete(asyncio.wait_for(talk(), 30)) == b"over the distance"
        os.kill(proxy.pid, signal.SIGINT)
        assert proxy.wait(timeout=30) == 0
    finally:
        if proxy.poll() is None:
            proxy.kill()
            proxy.wait()
        target.close()
        loop.close()
