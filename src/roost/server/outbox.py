"""The per-connection outbox: one queue per class, a byte budget, gap records.

The writer always takes the most important queued frame first. The
transport's own buffer is kept small (``WRITE_HIGH``), so the order is decided
here and not in a FIFO below. When a reader falls behind and the budget is
reached, the least important live messages are dropped first and recorded as
gaps; the client is told once the outbox has drained to half its budget, and
fetches them from history. Control frames and replies are never dropped;
instead the connection stops taking requests until its outbox drains, which
bounds them as well.

Order: within a class, frames leave in the order they were queued. Once a
message of a conversation has been dropped, later messages of that
conversation in the same or a less important class are dropped too, until the
gap notice is queued; so a client never sees a message of a class before an
earlier message of the same or a more important class, or the gap notice
that stands for it. More important messages still overtake.
"""

from __future__ import annotations

import time
from typing import Protocol

from roost.bus.base import Envelope

# Outbox classes, most important first.
CONTROL = 0  # replies, errors, acks, moderation notices, gap notices
URGENT, HIGH, NORMAL, LOW = 1, 2, 3, 4  # chat, by message priority 0..3
BULK = 5  # file data and history replay
N_CLASSES = 6

# Bytes we let the transport hold; beyond this the transport pauses us.
WRITE_HIGH = 64 * 1024
WRITE_LOW = 16 * 1024


def chat_class(priority: int) -> int:
    """Outbox class of a chat message of the given priority level (0..3)."""
    return URGENT + min(max(priority, 0), 3)


class _Unused(list):  # type: ignore[type-arg]
    """The queue of every class that holds nothing: shared, never holds a frame.

    An outbox starts with all its classes on this queue, takes a list of its
    own for a class when it queues a frame there, and returns to sharing once
    drained: thousands of quiet sessions own no queue at all. (Lists, not
    deques: a deque always allocates a 0.5 KiB block.)
    """

    __slots__ = ()

    def append(self, item: object) -> None:
        raise RuntimeError("queue frames with Outbox.push")

    def extend(self, items: object) -> None:
        raise RuntimeError("queue frames with Outbox.push")

    def insert(self, index: object, item: object) -> None:
        raise RuntimeError("queue frames with Outbox.push")


_UNUSED: list[Envelope] = _Unused()
_IDLE: tuple[list[Envelope], ...] = (_UNUSED,) * N_CLASSES
# The gaps of every outbox that has dropped nothing: shared and never written
# (an empty dict of its own costs each quiet session 64 bytes).
_NO_GAPS: dict[str, list[int]] = {}


class Transport(Protocol):
    def write(self, data: bytes | bytearray) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...


class DrainListener(Protocol):
    """Who is told when an outbox drains (its connection)."""

    def outbox_drained(self) -> None:
        """The outbox is under half its budget after a flush."""


class Outbox:
    """Frames waiting to go to one connection."""

    __slots__ = (
        "budget",
        "fifo",
        "full_since",
        "gaps",
        "owner",
        "paused",
        "queued",
        "queues",
        "transport",
    )

    def __init__(self, transport: Transport, budget: int, fifo: bool = False) -> None:
        self.transport = transport
        self.budget = budget
        # fifo: everything in one queue (the control queue, so that nothing
        # is ever evicted from it), for measuring what priorities buy.
        self.fifo = fifo
        # One queue per class (oldest first); a class has a list of its own
        # only while it holds frames (see _Unused).
        self.queues: list[list[Envelope]] | tuple[list[Envelope], ...] = _IDLE
        self.queued = 0  # bytes in the queues
        self.paused = False  # transport asked us to stop writing
        # room -> [first seq, last seq, most important class] dropped since the last notice
        self.gaps = _NO_GAPS
        # monotonic time the outbox last overflowed (a drop, or over budget) without
        # draining to half its budget since; 0 while it keeps up
        self.full_since = 0.0
        # Told after a flush that left it under half its budget. An object, not a
        # callback: a bound method would cost each idle session 64 bytes.
        self.owner: DrainListener | None = None

    def push(self, env: Envelope) -> bool:
        """Queue one envelope; False if it was dropped (and recorded as a gap)."""
        size = len(env.frame)
        if (self.gaps or self.queued + size > self.budget) and not self._admit(env, size):
            return False
        klass = CONTROL if self.fifo else env.klass
        queues = self.queues
        q = queues[klass]
        if q is _UNUSED:
            if not isinstance(queues, list):
                queues = self.queues = list(_IDLE)
            q = queues[klass] = []
        q.append(env)
        self.queued += size
        return True

    def write_or_push(self, env: Envelope) -> bool:
        """Write ``env`` at once if nothing waits ahead of it, else queue it.

        True if it went to the queues (queued, or dropped as a gap): the
        caller flushes the outbox then. The fan-out of a room takes this path:
        at a steady rate most recipients have nothing queued, and going
        through the queues and a later flush cost as much Python time per
        recipient as the write itself.
        """
        if self.queued or self.paused or self.gaps:
            self.push(env)
            return True
        transport = self.transport
        if not transport.is_closing():
            transport.write(env.frame)
        return False

    def _admit(self, env: Envelope, size: int) -> bool:
        """The slow path of push: over budget, or a gap is pending."""
        if self.queued + size > self.budget and not self.paused:
            # A reader that keeps up takes it now: make room by writing before dropping
            # (one loop turn can bring a burst larger than the budget).
            self._write()
        klass = env.klass
        if not URGENT <= klass <= LOW:
            # Never dropped; the connection stops taking requests while over budget.
            if self.queued + size >= self.budget:
                self._mark_full()
            return True
        gap = self.gaps.get(env.room) if env.seq > 0 else None
        if gap is not None and klass >= gap[2]:
            self._record_gap(env)
            return False
        if self.queued + size <= self.budget or not self.queued:
            return True  # an empty outbox takes anything: a reader keeping up loses nothing
        if self._make_room(size, klass):
            return True
        self._record_gap(env)
        return False

    def _make_room(self, size: int, klass: int) -> bool:
        """Drop queued live messages less important than ``klass`` until ``size`` fits.

        The newest go first, so what stays queued of each class is older than
        what was dropped.
        """
        for victim in range(LOW, klass, -1):
            q = self.queues[victim]
            while q and self.queued + size > self.budget:
                env = q.pop()
                self.queued -= len(env.frame)
                self._record_gap(env)
            if self.queued + size <= self.budget:
                return True
        return False

    def _mark_full(self) -> None:
        if not self.full_since:
            self.full_since = time.monotonic()

    def _record_gap(self, env: Envelope) -> None:
        self._mark_full()
        if env.seq <= 0:
            return  # presence and the like: live only, nothing to refetch
        first = env.first or env.seq
        gap = self.gaps.get(env.room)
        if gap is None:
            if self.gaps is _NO_GAPS:
                self.gaps = {}
            self.gaps[env.room] = [first, env.seq, env.klass]
        else:
            gap[0] = min(gap[0], first)
            gap[1] = max(gap[1], env.seq)
            gap[2] = min(gap[2], env.klass)

    def rekey(self, old: str, new: str) -> None:
        """A renamed room's pending gap takes its new name."""
        gap = self.gaps.pop(old, None)
        if gap is not None:
            self.gaps[new] = gap

    def take_gaps(self) -> dict[str, tuple[int, int]]:
        """The dropped seq ranges per conversation (first, last), forgotten here."""
        gaps, self.gaps = self.gaps, _NO_GAPS
        return {room: (gap[0], gap[1]) for room, gap in gaps.items()}

    @property
    def over_budget(self) -> bool:
        return self.queued >= self.budget

    def flush(self) -> None:
        """Write queued frames, most important first, while the transport has room.

        Then, if the outbox is under half its budget, tells its ``owner`` (gap
        notices of an outbox that overflowed, producers waiting for room).
        """
        if self.queued and not self.paused:
            self._write()
        elif not self.full_since:
            return  # nothing written, nothing to report
        if self.queued < self.budget // 2 and self.owner is not None:
            self.owner.outbox_drained()

    def _write(self) -> None:
        transport = self.transport
        if transport.is_closing():
            return
        queues = self.queues
        while self.queued and not self.paused:
            room = WRITE_HIGH - transport.get_write_buffer_size()
            if room <= 0:
                break
            parts: list[bytes | bytearray] = []
            taken = 0
            for q in queues:
                if not q:
                    continue
                i, n = 0, len(q)
                while i < n and taken < room:
                    frame = q[i].frame
                    parts.append(frame)
                    taken += len(frame)
                    i += 1
                del q[:i]
                if taken >= room:
                    break
            self.queued -= taken
            transport.write(parts[0] if len(parts) == 1 else b"".join(parts))
        if not self.queued:
            self.queues = _IDLE  # drained: back to owning no queue (cheap to redo)

    def bulk_room(self) -> int:
        """Bytes a bulk producer (file data) may queue now without crowding chat."""
        return max(0, WRITE_HIGH - self.queued - self.transport.get_write_buffer_size())
