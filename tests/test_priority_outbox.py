"""Outbox rules that keep a conversation's order and memory bounded (recording transport)."""

from __future__ import annotations

from roost.server.outbox import CONTROL, HIGH, LOW, NORMAL, URGENT, Outbox
from test_outbox import Recorder, env


class Sink(Recorder):
    """A transport whose socket takes everything (a reader that keeps up)."""

    def write(self, data: bytes) -> None:
        self.written.append(data)


def stalled(budget: int, fifo: bool = False) -> Outbox:
    box = Outbox(Recorder(), budget=budget, fifo=fifo)
    box.paused = True  # the transport asked us to stop: nothing leaves
    return box


def test_after_a_drop_later_messages_of_that_class_wait_for_the_notice() -> None:
    box = stalled(budget=8)
    assert box.push(env(b"nnnn", NORMAL, "r", 1))
    assert box.push(env(b"nnnn", NORMAL, "r", 2))
    assert not box.push(env(b"nn", NORMAL, "r", 3))  # full: dropped
    del box.queues[NORMAL][0]  # the reader took one frame: room again
    box.queued -= 4
    # ...but seq 4 must not go out before the notice for seq 3
    assert not box.push(env(b"nn", NORMAL, "r", 4))
    assert not box.push(env(b"ll", LOW, "r", 5))  # nor anything less important
    assert box.push(env(b"u", URGENT, "r", 6))  # more important ones still pass
    assert box.push(env(b"n", NORMAL, "other", 1))  # other conversations are not held
    assert box.take_gaps() == {"r": (3, 5)}
    assert box.push(env(b"n", NORMAL, "r", 7))  # after the notice, live again


def test_fifo_switch_never_evicts_replies() -> None:
    box = stalled(budget=8, fifo=True)
    assert box.push(env(b"cccc", CONTROL))
    assert box.push(env(b"llll", LOW, "r", 1))
    assert not box.push(env(b"uuuu", URGENT, "r", 2))  # no room, and nothing is evicted
    assert [e.frame for e in box.queues[CONTROL]] == [b"cccc", b"llll"]
    assert box.take_gaps() == {"r": (2, 2)}


def test_a_reader_that_keeps_up_loses_nothing_to_a_burst() -> None:
    t = Sink()
    box = Outbox(t, budget=10)
    # one loop turn brings 40 bytes for a 10-byte budget: written, not dropped
    for seq in range(1, 11):
        assert box.push(env(b"nnnn", NORMAL, "r", seq))
    box.flush()
    assert b"".join(t.written) == b"nnnn" * 10
    assert not box.gaps and not box.full_since


def test_a_drop_starts_the_stall_clock_and_draining_stops_it() -> None:
    box = stalled(budget=8)
    drained: list[dict[str, tuple[int, int]]] = []

    class Owner:
        def outbox_drained(self) -> None:
            drained.append(box.take_gaps())

    box.owner = Owner()
    assert box.push(env(b"hhhhhh", HIGH, "r", 1))
    assert not box.push(env(b"nnnn", NORMAL, "r", 2))
    # not over budget (6 of 8 bytes), but dropping: that counts as full
    assert not box.over_budget and box.full_since > 0
    box.flush()
    assert drained == []  # still over half the budget
    box.paused = False
    box.transport.buffer = 0  # type: ignore[attr-defined]
    box.flush()
    assert drained == [{"r": (2, 2)}]
