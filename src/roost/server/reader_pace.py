"""Reader pace: a room's messages to a reader that falls behind are written together.

The fan-out writes each batch of a room to every member at once, which is
what a reader waiting on its socket needs. A reader that lets data pile up (a
busy bot, a client on a slow loop) takes it later anyway, and each of those
small writes still costs a system call and the whole transmit path (on
loopback also the receiving side's TCP): about 5 us each, most of the
server's time at 2,000 messages/s into a room of 100 in which 90 members
read every 20 ms (docs/benchmarks.md, "Reader pace"). So such a reader's
room messages wait in its outbox and leave together: one write instead of
ten.

Which readers lag is read from the kernel. A probe looks at the sessions
that room messages went to since its last round (and those still lagging), a
few hundred at a time; one whose socket holds ``LAGGING_BYTES`` or more that
the peer has not acknowledged, with no ACK for ``QUIET_MS``, on
``LATE_PROBES`` looks in a row, is lagging. A prompt reader's kernel
acknowledges as it reads, within a millisecond: at a chat rate it stays below
the mark, and at a high rate (kilobytes in flight) its ACKs keep coming. At a
low rate nobody reaches the mark. A lagging reader is caught up once a probe
finds nothing unacknowledged and nothing held.

The held sessions are spread over ``HOLD_SLOTS`` slots, and each fan-out
writes one slot: at a steady rate every lagging reader gets one write per
``HOLD_SLOTS`` fan-outs, and the writes never come in one burst that prompt
readers would wait behind (one timer flushing everyone every 10 ms did that:
p50 a fifth higher). A timer writes any slot that has waited ``HOLD``, for
when the room goes quiet.

Not held: urgent messages (written to everyone at once), replies and
notices (they do not go through the room fan-out), and sessions with a file
download in progress (behind because of the file, and their chat must
overtake it).

IRC servers and MQTT brokers get a similar saving from leaving Nagle's
algorithm on (ngircd, mosquitto). Nagle holds a write until the reader's
ACK, which a client that also sends delays by up to 40 ms, and we measured
such stalls with Nagle on for lagging readers only; holding in the outbox
costs a lagging reader at most ``HOLD`` and never stalls anyone.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import sys
import termios
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.server.connection import ClientConnection

log = logging.getLogger("roost.server")

HOLD_SLOTS = 10  # a lagging reader is written once every this many fan-outs
HOLD = 0.02  # seconds a held message waits at most (when fan-outs are rare)
PROBE_INTERVAL = 0.1  # seconds between two probes
PROBE_BATCH = 256  # sessions looked at per probe (5,000 sessions: every 2 s)
# Unacknowledged bytes that mark a lagging reader: a few messages. At 2 KiB
# a reader that drains every 5-20 ms was only caught above ~1,500 msg/s, and
# at 500 msg/s into a room of 100 each of its messages cost a write of its
# own (0.52 of a core against 0.37 at 512; docs/benchmarks.md, "Reader pace
# at moderate rates"). Below that a prompt reader whose kernel delayed one ACK
# was now and then taken for a lagging one (p99 18 ms in 3 runs of 8).
LAGGING_BYTES = 512
# ... while its kernel has acknowledged nothing for this long. A prompt reader
# at a high rate has kilobytes in flight too, but acknowledges all the time.
QUIET_MS = 2
LATE_PROBES = 2
# SIOCOUTQ (bytes not yet acknowledged by the peer, sent or not) shares its
# number with TIOCOUTQ on Linux; elsewhere the probe does not run and nobody lags.
SIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
_INT = b"\0\0\0\0"
TCP_INFO: int = getattr(socket, "TCP_INFO", 11)  # Linux only, as SIOCOUTQ
_TCP_INFO_LEN = 104  # up to tcpi_rcv_space; tcpi_last_ack_recv is at 56


def unacknowledged(sock: socket.socket) -> int:
    """Bytes of ``sock``'s send queue that its peer has not acknowledged."""
    assert SIOCOUTQ is not None
    return int.from_bytes(fcntl.ioctl(sock.fileno(), SIOCOUTQ, _INT), sys.byteorder, signed=True)


def quiet_ms(sock: socket.socket) -> int:
    """Milliseconds since ``sock`` last received an ACK (TCP_INFO's tcpi_last_ack_recv)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO_LEN)
    return int.from_bytes(info[56:60], sys.byteorder)


def pace(conn: ClientConnection) -> None:
    """Look at one session's socket and outbox, and set ``conn.lagging`` from them."""
    transport, box = conn.transport, conn.outbox
    if transport is None or box is None or conn.closing:
        return
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if conn.drain_hooks:
        lagging = False
    else:
        try:
            queued = unacknowledged(sock)
            # Once lagging, its outbox holds messages most of the time: only a look
            # that finds nothing anywhere says it has caught up (no flapping).
            if conn.lagging:
                lagging = queued > 0 or box.queued > 0
            elif queued >= LAGGING_BYTES and quiet_ms(sock) >= QUIET_MS:
                # Behind on LATE_PROBES looks in a row: a reader that is only
                # sometimes behind (at full speed, say) is better served at once.
                conn.behind += 1
                lagging = conn.behind >= LATE_PROBES
            else:
                conn.behind = 0
                lagging = False
        except OSError:  # the socket is going away; its close is under way
            return
    if lagging != conn.lagging:
        conn.lagging = lagging
        conn.behind = 0
        log.debug("%s (%s) %s", conn.peer, conn.user, "reads late" if lagging else "keeps up")


class ReaderPace:
    """The probe of the sessions fanned out to, and the held writes of the lagging ones."""

    def __init__(self) -> None:
        # Recipients of each conversation fanned out to since the round began:
        # a session nobody writes to cannot fall behind, so an idle one is never
        # looked at (nor made to keep a socket object: connection.tune_socket).
        self._fanned: dict[str, Collection[ClientConnection]] = {}
        self._lagging: set[ClientConnection] = set()  # looked at until caught up or gone
        self._round: list[ClientConnection] = []
        self._probe_timer: asyncio.TimerHandle | None = None
        self._slots: list[set[ClientConnection]] = [set() for _ in range(HOLD_SLOTS)]
        self._since = [0.0] * HOLD_SLOTS  # loop time each slot was first held
        self._next = 0  # the slot the next fan-out writes
        self._held = 0  # sessions held, over all slots
        self._hold_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop, probe: bool = True) -> None:
        """Probe every PROBE_INTERVAL (on Linux; without ``probe``, nobody ever lags)."""
        self._loop = loop
        if probe and SIOCOUTQ is not None:
            self._probe_timer = loop.call_later(PROBE_INTERVAL, self._probe)

    def stop(self) -> None:
        for timer in (self._probe_timer, self._hold_timer):
            if timer is not None:
                timer.cancel()
        self._probe_timer = self._hold_timer = None

    def fanned_out(self, key: str, targets: Collection[ClientConnection]) -> None:
        """Room messages of ``key`` went to ``targets`` (each a candidate for the probe)."""
        self._fanned[key] = targets

    def hold(self, conn: ClientConnection) -> None:
        """``conn`` (lagging) has room messages queued in its outbox, to be written later."""
        k = (id(conn) >> 4) % HOLD_SLOTS
        slot = self._slots[k]
        if conn in slot:
            return
        loop = self._loop
        assert loop is not None
        if not slot:
            self._since[k] = loop.time()
        slot.add(conn)
        self._held += 1
        if self._hold_timer is None:
            self._hold_timer = loop.call_later(HOLD, self._write_old)

    def after_fanout(self) -> None:
        """Write the next slot's held sessions (one slot per fan-out)."""
        if self._held:
            k = self._next
            self._next = (k + 1) % HOLD_SLOTS
            self._write_slot(k)

    def _write_slot(self, k: int) -> None:
        conns = self._slots[k]
        if not conns:
            return
        self._slots[k] = set()
        self._held -= len(conns)
        for conn in conns:
            if not conn.closing and conn.outbox is not None:
                try:
                    conn.flush()
                except Exception:  # one session's failure must not strand the others' messages
                    log.exception("writing held messages to %s failed", conn.peer)

    def _write_old(self) -> None:
        """Write the slots that have waited HOLD (the room went quiet)."""
        loop = self._loop
        assert loop is not None
        self._hold_timer = None
        due = loop.time() - HOLD
        for k in range(HOLD_SLOTS):
            if self._slots[k] and self._since[k] <= due:
                self._write_slot(k)
        if self._held:
            first = min(self._since[k] for k in range(HOLD_SLOTS) if self._slots[k])
            self._hold_timer = loop.call_at(first + HOLD, self._write_old)

    def _probe(self) -> None:
        assert self._loop is not None
        self._probe_timer = self._loop.call_later(PROBE_INTERVAL, self._probe)
        try:
            self.probe()
        except Exception:  # the probe is an optimisation; it must not stop
            log.exception("reader pace probe failed")

    def probe(self) -> None:
        """Look at the next PROBE_BATCH sessions of the round (a new round when done)."""
        if not self._round:
            looked = set(self._lagging)
            for targets in self._fanned.values():
                looked.update(targets)
            self._fanned = {}
            self._round = [c for c in looked if c.user is not None or c.lagging]
        batch = self._round[-PROBE_BATCH:]
        del self._round[-PROBE_BATCH:]
        lagging = self._lagging
        for conn in batch:
            pace(conn)
            if conn.lagging and not conn.closing:
                lagging.add(conn)
            else:
                lagging.discard(conn)
