"""Reader pace: Nagle's algorithm for the sessions whose reader falls behind.

Every connection starts with ``TCP_NODELAY``, so a message leaves the moment
it is written. For a reader that is not reading, that buys nothing: the bytes
wait in its kernel either way, and each small write still pays the whole
transmit path (on loopback also the receiving side's TCP). With Nagle's
algorithm on, a write behind unacknowledged data only joins the unsent
queue, and the queue leaves with the reader's next ACK, which its kernel
sends as it reads. bench/write_cost.py measured 2.9 against 5.3 us a write;
at 2,000 messages/s into a room of 100 of which 90 read every 20 ms, that is
a third of the server's CPU (docs/benchmarks.md, "Reader pace").

Turning Nagle on for everyone is what ngircd does, and it stalls prompt
readers now and then for a delayed ACK (up to 40 ms on Linux). So a probe
looks at the sessions a few hundred at a time: one whose kernel holds
``LAGGING_BYTES`` or more that the peer has not acknowledged gets Nagle's
algorithm; one that is down to ``CAUGHT_UP_BYTES`` gets ``TCP_NODELAY`` back,
which also sends at once what Nagle held. A prompt reader acknowledges
within a millisecond, so it stays below the mark at any chat rate.

Three cases keep ``TCP_NODELAY`` whatever the probe sees:

- a client that has sent anything within ``TALKED_WITHIN``, and one that
  sends while lagging goes back at once, before its request is handled: a
  client that waits for a reply does not acknowledge our earlier bytes until
  its delayed-ACK timer fires (its kernel hopes to carry the ACK on its next
  request), and Nagle's algorithm would hold the reply for that. Pure
  readers, the ones that cost the writes, never send.
- a file download in progress: its chunks are what the reader waits for.
- a connection whose writes the kernel has started to refuse: held bytes
  count against ``TCP_NOTSENT_LOWAT``, so holding them would only move them
  to the outbox.

The fan-out writes to prompt readers before lagging ones (Server._fanout):
a write to a reader that waits wakes it now, one to a lagging reader is
read later anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import sys
import termios
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.server.connection import ClientConnection

log = logging.getLogger("roost.server")

PROBE_INTERVAL = 0.1  # seconds between two probes
PROBE_BATCH = 256  # sessions looked at per probe (5,000 sessions: every 2 s)
TALKED_WITHIN = 1.0  # seconds since a client last sent anything that keep it on NODELAY
LAGGING_BYTES = 2048  # unacknowledged bytes that mark a lagging reader
# ... and those at or below which it counts as caught up. Nothing: a lagging
# reader under Nagle always has some, and 512 bytes made them flap (measured).
CAUGHT_UP_BYTES = 0
# SIOCOUTQ (bytes not yet acknowledged by the peer, sent or not) shares its
# number with TIOCOUTQ on Linux; elsewhere the probe does not run.
SIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
_INT = b"\0\0\0\0"


def unacknowledged(sock: socket.socket) -> int:
    """Bytes of ``sock``'s send queue that its peer has not acknowledged."""
    assert SIOCOUTQ is not None
    return int.from_bytes(fcntl.ioctl(sock.fileno(), SIOCOUTQ, _INT), sys.byteorder, signed=True)


def set_lagging(conn: ClientConnection, sock: socket.socket, lagging: bool) -> None:
    """Switch ``conn`` between Nagle's algorithm (lagging) and ``TCP_NODELAY``."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0 if lagging else 1)
    conn.lagging = lagging
    log.debug(
        "%s (%s) %s", conn.peer, conn.user, "reads late: Nagle on" if lagging else "Nagle off"
    )


def _socket(conn: ClientConnection) -> socket.socket | None:
    transport = conn.transport
    if transport is None or conn.closing:
        return None
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return sock


def talking(conn: ClientConnection) -> None:
    """``conn`` (lagging) sent something: back to TCP_NODELAY before its reply."""
    sock = _socket(conn)
    if sock is not None:
        with contextlib.suppress(OSError):  # the socket is going away; its close is under way
            set_lagging(conn, sock, False)


def pace(conn: ClientConnection, now: float) -> None:
    """Look at one session's send queue and set its mode from what is there.

    ``now`` is time.monotonic().
    """
    sock = _socket(conn)
    if sock is None:
        return
    transport = conn.transport
    assert transport is not None
    try:
        if (
            now - conn.last_seen < TALKED_WITHIN
            or conn.drain_hooks
            or transport.get_write_buffer_size()
        ):
            lagging = False
        else:
            queued = unacknowledged(sock)
            lagging = queued > CAUGHT_UP_BYTES if conn.lagging else queued >= LAGGING_BYTES
        if lagging != conn.lagging:
            set_lagging(conn, sock, lagging)
    except OSError:  # the socket is going away; its close is under way
        pass


class ReaderPace:
    """Probes ``connections`` every PROBE_INTERVAL, PROBE_BATCH at a time."""

    def __init__(self, connections: Collection[ClientConnection]) -> None:
        self.connections = connections
        self._round: list[ClientConnection] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def available(self) -> bool:
        return SIOCOUTQ is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.available:
            self._timer = loop.call_later(PROBE_INTERVAL, self._probe, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_later(PROBE_INTERVAL, self._probe, loop)
        try:
            self.probe()
        except Exception:  # the probe is an optimisation; it must not stop
            log.exception("reader pace probe failed")

    def probe(self) -> None:
        """Look at the next PROBE_BATCH sessions of the round (a new round when done)."""
        if not self._round:
            self._round = [c for c in self.connections if c.user is not None]
        batch = self._round[-PROBE_BATCH:]
        del self._round[-PROBE_BATCH:]
        now = time.monotonic()
        for conn in batch:
            pace(conn, now)
