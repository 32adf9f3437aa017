"""A loopback TCP proxy in threads, to take a database away from a server and give it back
without touching the database server itself (which other tests share)."""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
from contextlib import suppress

SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SO_DETACH_FILTER = getattr(socket, "SO_DETACH_FILTER", 27)
# A classic BPF socket filter of one instruction, BPF_RET|BPF_K 0: keep nothing of any packet.
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)


def _drop_every_packet(sock: socket.socket) -> None:
    """Make the kernel discard every packet that arrives for ``sock`` before TCP sees it: no ACK,
    no reply to a keepalive probe or a SYN, as when the network between the hosts is cut (a
    proxy that merely stops forwarding still has its kernel acknowledge everything)."""
    program = ctypes.create_string_buffer(_DROP_ALL, len(_DROP_ALL))
    # struct sock_fprog {unsigned short len; struct sock_filter *filter;}; the kernel copies it.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HP", 1, ctypes.addressof(program)))


def _take_packets_again(sock: socket.socket) -> None:
    with suppress(OSError):  # closed, or no filter attached
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)


class TcpProxy:
    """Listens on 127.0.0.1:port and forwards every connection to target.

    cut(): closes the listening socket and every forwarded connection; new connections are
    refused, as when the database server is down. restore(): listens on the same port again.

    black_hole(): a network partition. Every connection stays open, but nothing passes either
    way, and no packet sent to the proxy's sockets is acknowledged (so TCP timeouts and
    keepalives see the silence); new connections hang without an answer. heal() ends it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._clients: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._black_hole = False
        self._healed = threading.Event()  # set while there is no partition
        self._healed.set()
        self.restore()

    def black_hole(self) -> None:
        self._partition(True)

    def heal(self) -> None:
        self._partition(False)

    def _partition(self, on: bool) -> None:
        with self._lock:
            self._black_hole = on
            (self._healed.clear if on else self._healed.set)()
            for sock in (self._listener, *self._clients):
                if sock is not None:
                    (_drop_every_packet if on else _take_packets_again)(sock)

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            opened, self._open = self._open, set()
            self._clients = set()
        for sock in opened:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
                self._clients.add(client)
                if self._black_hole:  # connected just before the partition
                    _drop_every_packet(client)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                # Bytes this side had acknowledged before a partition arrive after it, as TCP
                # would deliver them (they are not lost: a reply lost after its acknowledgement
                # would leave its reader waiting for ever, which no network does).
                while not self._healed.wait(0.5):
                    if self._listener is None:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
