"""A TCP proxy on 127.0.0.1 that delivers each direction's bytes a fixed delay after it received
them, in order: a database on another host, made from the one on loopback (issue #16).

    .venv/bin/python benchmarks/delay_proxy.py --target 127.0.0.1:5432 --rtt-ms 1 [--port 0]

prints ``listening on 127.0.0.1:PORT`` once it accepts connections and runs until SIGINT or
SIGTERM. ``--rtt-ms`` is the round trip to add: each direction waits half of it.

Each chunk read is stamped with its deadline (arrival + delay) and queued; one writer per
direction writes every chunk whose deadline has passed and sets one timer for the next one. A
chunk therefore waits its delay once, whatever waits before it (no per-chunk sleep that adds
up), a busy connection's bytes keep flowing at full speed (they only arrive later), and nothing
is ever written before its deadline. Order is kept: one FIFO per direction, deadlines in the
order of arrival.

The event loop is asyncio's selector loop on select(2), whose timeout has microsecond resolution:
epoll and poll (asyncio's default, and uvloop's timers) round a wait up to whole milliseconds,
which would turn 0.5 ms each way into about 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import selectors
import signal
import sys

HOST = "127.0.0.1"
READ_CHUNK = 1 << 16
# Reading from a side stops while the other side's socket has this much unsent (kernel buffer
# full) or this much is queued for its deadline; it resumes below a quarter of it.
HIGH_WATER = 4 << 20
PR_SET_TIMERSLACK = 29


def new_loop() -> asyncio.AbstractEventLoop:
    """A selector loop on select(2): microsecond timer resolution (see the module's note)."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def tighten_timer_slack() -> None:
    """Ask Linux to end this thread's timed waits on time: by default it may let them run up to
    50 µs late (timer slack), twice per round trip here."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0)


class _Direction:
    """One direction of one proxied connection: chunks stamped on arrival, written at their
    deadline by one timer chain, in arrival order."""

    def __init__(self, link: _Link, delay: float, source: _Side) -> None:
        self.link, self.loop, self.delay, self.source = link, link.loop, delay, source
        self.sink: asyncio.Transport | None = None  # set once the outgoing side is connected
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.sink_paused = False
        self.closed = False

    def push(self, data: bytes | None) -> None:
        """Queue ``data`` (None: the end of the stream) for arrival time + delay."""
        self.queue.append((self.loop.time() + self.delay, data))
        self.queued += len(data) if data else 0
        if self.timer is None:
            self.flush()
        self.throttle()

    def flush(self) -> None:
        self.timer = None
        if self.sink is None or self.closed:
            return
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if data is None:
                if self.sink.can_write_eof():
                    self.sink.write_eof()
                    self.link.eof_delivered()
                else:
                    self.link.close()
                return
            self.queued -= len(data)
            self.sink.write(data)
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)
        self.throttle()

    def throttle(self) -> None:
        busy = self.sink_paused or self.queued > HIGH_WATER
        if busy:
            self.source.pause()
        elif self.queued < HIGH_WATER // 4:
            self.source.resume()

    def stop(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: what it reads goes to ``outgoing``."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.outgoing: _Direction | None = None
        self.incoming: _Direction | None = None  # the direction that writes to this socket
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.outgoing is not None:
            self.outgoing.push(data)

    def eof_received(self) -> bool:
        if self.outgoing is not None:
            self.outgoing.push(None)
        return True  # keep our writing half open: the other direction may still deliver

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.close()

    def pause_writing(self) -> None:
        if self.incoming is not None:
            self.incoming.sink_paused = True
            self.incoming.throttle()

    def resume_writing(self) -> None:
        if self.incoming is not None:
            self.incoming.sink_paused = False
            self.incoming.throttle()

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()


class _Link:
    """A client connection and its connection to the target."""

    def __init__(self, proxy: DelayProxy, loop: asyncio.AbstractEventLoop) -> None:
        self.proxy, self.loop = proxy, loop
        self.client = _Side(self)
        self.server = _Side(self)
        self.up = _Direction(self, proxy.delay, self.client)  # client -> target
        self.down = _Direction(self, proxy.delay, self.server)  # target -> client
        self.client.outgoing, self.server.incoming = self.up, self.up
        self.server.outgoing, self.client.incoming = self.down, self.down
        self.closed = False
        self.ends = 0  # directions whose end of stream has been delivered

    def eof_delivered(self) -> None:
        self.ends += 1
        if self.ends == 2:  # both ways finished: nothing more can pass
            self.close()

    async def open(self) -> None:
        """Connect to the target; until then the client's bytes wait in ``up``."""
        assert self.client.transport is not None
        try:
            await self.loop.create_connection(lambda: self.server, *self.proxy.target)
        except OSError:
            self.close()
            return
        if self.closed:  # the client left while we connected
            if self.server.transport is not None:
                self.server.transport.close()
            return
        self.down.sink, self.up.sink = self.client.transport, self.server.transport
        self.up.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.up.stop()
        self.down.stop()
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.close()
        self.proxy.links.discard(self)


class DelayProxy:
    """Listens on 127.0.0.1:``port`` (0: any free port, see ``.port``) and forwards each
    connection to ``target``, each direction ``delay`` seconds late. Runs on the current loop:
    ``await start()``, then ``close()``."""

    def __init__(self, target: tuple[str, int], delay: float, port: int = 0) -> None:
        if delay < 0:
            raise ValueError("the delay cannot be negative")
        self.target, self.delay, self.port = target, delay, port
        self.links: set[_Link] = set()
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def opened(link: _Link) -> None:
            task = loop.create_task(link.open())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        def accept() -> _Side:
            link = _Link(self, loop)
            self.links.add(link)
            loop.call_soon(opened, link)  # once the client's transport is made
            return link.client

        self.server = await loop.create_server(accept, HOST, self.port)
        self.port = int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for link in list(self.links):
            link.close()


async def serve(target: tuple[str, int], delay: float, port: int) -> None:
    proxy = DelayProxy(target, delay, port)
    await proxy.start()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(f"listening on {HOST}:{proxy.port}", flush=True)
    await stop.wait()
    proxy.close()


def parse_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="A TCP proxy on 127.0.0.1 that adds a fixed delay each way.")
    p.add_argument("--target", type=parse_target, required=True, help="HOST:PORT to forward to.")
    p.add_argument(
        "--rtt-ms", type=float, default=1.0, help="Round trip to add, in ms; each direction waits half."
    )
    p.add_argument("--port", type=int, default=0, help="Port to listen on (default: any free one).")
    args = p.parse_args(argv)
    if args.rtt_ms < 0:
        p.error("--rtt-ms cannot be negative")
    tighten_timer_slack()
    loop = new_loop()
    try:
        loop.run_until_complete(serve(args.target, args.rtt_ms / 2000, args.port))
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
