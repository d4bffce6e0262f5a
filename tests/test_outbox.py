"""The outbox on its own, with a recording transport (no sockets needed)."""

from __future__ import annotations

import pytest

from roost.bus.base import Envelope
from roost.server.outbox import BULK, CONTROL, HIGH, LOW, NORMAL, URGENT, WRITE_HIGH, Outbox


class Recorder:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.buffer = 0

    def write(self, data: bytes) -> None:
        # Like a transport whose socket takes nothing: everything stays buffered.
        self.written.append(data)
        self.buffer += len(data)

    def get_write_buffer_size(self) -> int:
        return self.buffer

    def is_closing(self) -> bool:
        return False


def env(tag: bytes, klass: int, room: str = "r", seq: int = 0) -> Envelope:
    return Envelope(room, seq, klass, tag)


def test_most_important_first() -> None:
    t = Recorder()
    box = Outbox(t, budget=10_000)
    for tag, klass in [
        (b"B", BULK),
        (b"L", LOW),
        (b"N", NORMAL),
        (b"H", HIGH),
        (b"U", URGENT),
        (b"C", CONTROL),
    ]:
        box.push(env(tag, klass))
    box.flush()
    assert b"".join(t.written) == b"CUHNLB"


def test_fifo_switch_keeps_arrival_order() -> None:
    t = Recorder()
    box = Outbox(t, budget=10_000, fifo=True)
    for tag, klass in [(b"L", LOW), (b"U", URGENT), (b"C", CONTROL)]:
        box.push(env(tag, klass))
    box.flush()
    assert b"".join(t.written) == b"LUC"


def test_budget_drops_least_important_and_records_gap() -> None:
    t = Recorder()
    box = Outbox(t, budget=10)
    box.paused = True
    for seq in range(1, 6):
        assert box.push(env(b"ll", LOW, "room", seq))
    # full: an urgent message evicts the newest low ones
    assert box.push(env(b"uuuu", URGENT, "room", 6))
    assert box.queued <= 10
    gaps = box.take_gaps()
    assert gaps == {"room": (4, 5)}
    # a low message that does not fit is dropped itself
    assert not box.push(env(b"ll", LOW, "room", 7))
    assert box.take_gaps() == {"room": (7, 7)}


def test_control_frames_are_never_dropped() -> None:
    t = Recorder()
    box = Outbox(t, budget=4)
    box.paused = True
    for _ in range(5):
        assert box.push(env(b"cccc", CONTROL))
    assert box.queued == 20 and box.over_budget


def test_transport_buffer_stays_small_so_order_is_decided_here() -> None:
    t = Recorder()
    box = Outbox(t, budget=1 << 30)
    for _ in range(100):
        box.push(env(b"x" * 10_000, NORMAL))
    box.flush()
    assert WRITE_HIGH <= t.buffer <= WRITE_HIGH + 10_000
    # an urgent frame queued now goes out before the normal backlog
    box.push(env(b"U", URGENT))
    t.buffer = 0
    t.written.clear()
    box.flush()
    assert t.written[0].startswith(b"U")


def test_idle_outbox_owns_no_queue_and_keeps_order_after_use() -> None:
    t = Recorder()
    box = Outbox(t, budget=10_000)
    idle = Outbox(Recorder(), budget=10).queues
    assert box.queues is idle  # a fresh outbox owns no queue
    box.push(env(b"N", NORMAL))
    box.push(env(b"C", CONTROL))
    assert box.queues is not idle
    box.flush()
    assert box.queued == 0 and box.queues is idle  # drained: owns no queue again
    box.push(env(b"L", LOW))
    box.push(env(b"U", URGENT))
    box.flush()
    assert b"".join(t.written) == b"CNUL"
    # The shared empty queue refuses frames that bypass push().
    with pytest.raises(RuntimeError):
        idle[BULK].append(env(b"B", BULK))
