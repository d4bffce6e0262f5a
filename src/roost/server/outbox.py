"""The per-connection outbox: one queue per class, a byte budget, gap records.

The writer always takes the most important queued frame first. The
transport's own buffer is kept small (``WRITE_HIGH``), so the order is decided
here and not in a FIFO below. When a reader falls behind and the budget is
reached, the least important live messages are dropped first and recorded as
gaps; the client is told and fetches them from history. Control frames and
replies are never dropped; instead the connection stops reading requests until
its outbox drains, which bounds them as well.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
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


class Transport(Protocol):
    def write(self, data: bytes | bytearray) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...


class Outbox:
    """Frames waiting to go to one connection."""

    __slots__ = (
        "budget",
        "fifo",
        "full_since",
        "gaps",
        "on_drain",
        "paused",
        "queued",
        "queues",
        "transport",
    )

    def __init__(self, transport: Transport, budget: int, fifo: bool = False) -> None:
        self.transport = transport
        self.budget = budget
        # fifo: a single queue, for measuring what priorities buy (bench switch).
        self.fifo = fifo
        self.queues: list[deque[Envelope]] = [deque() for _ in range(N_CLASSES)]
        self.queued = 0  # bytes in the queues
        self.paused = False  # transport asked us to stop writing
        self.gaps: dict[str, list[int]] = {}  # room -> [first, last] dropped seq
        self.full_since = 0.0  # monotonic time the budget was first hit, 0 if not
        self.on_drain: Callable[[], None] | None = None

    def push(self, env: Envelope) -> bool:
        """Queue one envelope; False if it was dropped (and recorded as a gap)."""
        size = len(env.frame)
        klass = env.klass
        if (
            self.queued + size > self.budget
            and URGENT <= klass <= LOW
            and not self._make_room(size, klass)
        ):
            self._record_gap(env)
            return False
        self.queues[NORMAL if self.fifo else klass].append(env)
        self.queued += size
        return True

    def _make_room(self, size: int, klass: int) -> bool:
        """Drop queued live messages less important than ``klass`` until ``size`` fits."""
        for victim in range(LOW, klass, -1):
            q = self.queues[victim]
            while q and self.queued + size > self.budget:
                env = q.pop()
                self.queued -= len(env.frame)
                self._record_gap(env)
            if self.queued + size <= self.budget:
                return True
        return self.queued + size <= self.budget

    def _record_gap(self, env: Envelope) -> None:
        if env.seq <= 0:
            return  # presence and the like: live only, nothing to refetch
        first = env.first or env.seq
        gap = self.gaps.get(env.room)
        if gap is None:
            self.gaps[env.room] = [first, env.seq]
        else:
            gap[0] = min(gap[0], first)
            gap[1] = max(gap[1], env.seq)

    def take_gaps(self) -> dict[str, list[int]]:
        gaps, self.gaps = self.gaps, {}
        return gaps

    @property
    def over_budget(self) -> bool:
        return self.queued >= self.budget

    def flush(self) -> None:
        """Write queued frames, most important first, while the transport has room."""
        if self.paused or not self.queued:
            return
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
                while q and taken < room:
                    frame = q.popleft().frame
                    parts.append(frame)
                    taken += len(frame)
                if taken >= room:
                    break
            self.queued -= taken
            transport.write(parts[0] if len(parts) == 1 else b"".join(parts))
        if self.on_drain is not None and self.queued < self.budget // 2:
            self.on_drain()

    def bulk_room(self) -> int:
        """Bytes a bulk producer (file data) may queue now without crowding chat."""
        return max(0, WRITE_HIGH - self.queued - self.transport.get_write_buffer_size())
