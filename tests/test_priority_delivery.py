"""Delivery by priority against a real server: the most important queued message goes first.

A reader that is not reading is a raw socket with a small receive buffer
(StalledReader) or an SDK client whose reading is paused; 1 KiB messages make
the backlog far larger than what kernel buffers can hold, so the server's
outbox decides the order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import run_cli
from helpers import StalledReader, client_for, logged_in, pause_reading, resume_reading, unique
from roost.client import Client, Message
from roost.protocol.messages import Gap, Left

FAST = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
FILLER = "x" * 1020


def add_user(srv: Any, name: str, level: str) -> None:
    """An account with an administrator-set priority level (`roost user add --priority`)."""
    cfg = srv.data_dir.parent / f"{srv.data_dir.name}.toml"
    res = run_cli(
        "user",
        "add",
        name,
        "--priority",
        level,
        "--data-dir",
        str(srv.data_dir),
        "--config",
        str(cfg),
    )
    assert res.returncode == 0, res.stderr


async def send_all(client: Client, room: str, items: list[tuple[str, int]]) -> None:
    """Send (text, priority) pairs pipelined, in order (the server keeps their order)."""
    await asyncio.gather(*(client.send(room, text, prio) for text, prio in items))


def messages(msgs: list[Any]) -> list[Message]:
    return [m for m in msgs if isinstance(m, Message)]


async def test_urgent_overtakes_a_thousand_queued_low_messages(server_factory) -> None:
    srv = server_factory(outbox_budget=4 * 1024 * 1024, **FAST)  # room for all: no drops
    boss = unique("boss")
    add_user(srv, boss, "urgent")
    reader = await StalledReader.open(srv, unique("reader"))
    async with logged_in(srv, boss, register=False) as sender:
        await sender.join("general")  # made offline: the running server learns it here
        await send_all(sender, "general", [(f"low {i} {FILLER}", 3) for i in range(1000)])
        urgent = await sender.send("general", "URGENT", 0)
        got = messages(await reader.read_all())
    reader.close()
    assert len(got) == 1001
    lows = [m for m in got if m.priority == 3]
    assert [m.seq for m in lows] == sorted(m.seq for m in lows)  # order kept within the class
    assert len({m.seq for m in lows}) == 1000
    where = next(i for i, m in enumerate(got) if m.seq == urgent.seq)
    assert got[where].priority == 0 and got[where].text == "URGENT"
    # Only what had left the outbox before the urgent message came (kernel and
    # transport buffers, under 100 KiB) is ahead of it; the rest follows it.
    assert where < 150, where
    assert all(m.seq < urgent.seq for m in got[where + 1 :])


async def test_four_levels_leave_the_outbox_in_priority_order(server_factory) -> None:
    srv = server_factory(outbox_budget=4 * 1024 * 1024, **FAST)
    boss = unique("boss")
    add_user(srv, boss, "urgent")
    reader = await StalledReader.open(srv, unique("reader"))
    async with logged_in(srv, boss, register=False) as sender:
        await sender.join("general")  # made offline: the running server learns it here
        # An urgent-level account may send at any lower level too.
        items = [(f"p{p} {i} {FILLER}", p) for i in range(250) for p in (3, 2, 1, 0)]
        await send_all(sender, "general", items)
        got = messages(await reader.read_all())
    reader.close()
    assert sorted(m.seq for m in got) == list(range(1, 1001))
    for level in range(4):  # within a level, in seq order
        seqs = [m.seq for m in got if m.priority == level]
        assert len(seqs) == 250 and seqs == sorted(seqs)
    # A prefix left before the backlog formed, in sending order; from then on
    # the outbox sent urgent, then high, then normal, then low.
    rest = 0
    while got[rest:] != sorted(got[rest:], key=lambda m: (m.priority, m.seq)):
        rest += 1
    assert [m.seq for m in got[:rest]] == sorted(m.seq for m in got[:rest])
    assert rest < 150, rest
    assert [m.priority for m in got[rest:]][-1] == 3 and got[rest].priority == 0


async def test_gap_event_names_conversation_and_range(server_factory) -> None:
    srv = server_factory(outbox_budget=64 * 1024, **FAST)
    user = unique("reader")
    other = unique("room")
    async with logged_in(srv, unique("sender")) as sender:
        await sender.join(other)
        reader = await StalledReader.open(srv, user)
        async with logged_in(srv, user, register=False) as same_user:
            await same_user.join(other)  # the reader is in both rooms
        await send_all(sender, "general", [(f"g{i} {FILLER}", 2) for i in range(400)])
        await send_all(sender, other, [(f"o{i} {FILLER}", 2) for i in range(100)])
        first = await reader.read_all(idle=1.0)
        # once the reader has caught up, live delivery goes on after the gap
        later = await sender.send("general", "after the gap")
        second = await reader.read_all(idle=0.5)
    reader.close()
    stream = first + second
    gaps = [m for m in stream if isinstance(m, Gap)]
    assert {g.room for g in gaps} == {"general", other}
    for room, total in (("general", 400), (other, 100)):
        live = [m.seq for m in messages(stream) if m.room == room]
        assert live == sorted(live)
        (gap,) = [g for g in gaps if g.room == room]
        skipped = set(range(gap.after + 1, gap.upto + 1))
        # the notice covers exactly what was not delivered live
        assert skipped and not skipped & set(live)
        assert skipped | set(live) >= set(range(1, total + 1))
        # nothing of the range or after it went out before the notice
        at = stream.index(gap)
        assert all(m.seq <= gap.after for m in messages(stream[:at]) if m.room == room)
    assert later.seq in [m.seq for m in messages(second) if m.room == "general"]


async def test_sdk_reader_gets_urgent_first_and_every_message(server_factory) -> None:
    srv = server_factory(outbox_budget=64 * 1024, **FAST)
    boss = unique("boss")
    add_user(srv, boss, "urgent")
    reader = client_for(srv, unique("reader"))
    await reader.start()
    raw: list[Any] = []
    reader.on_event(raw.append)
    async with logged_in(srv, boss, register=False) as sender:
        await sender.join("general")  # made offline: the running server learns it here
        pause_reading(reader)
        await send_all(sender, "general", [(f"low {i} {FILLER}", 3) for i in range(1000)])
        urgent = await sender.send("general", "URGENT", 0)
        resume_reading(reader)
        got: list[Message] = []

        async def collect() -> None:
            async for ev in reader.events():
                if isinstance(ev, Message):
                    got.append(ev)
                    if len(got) == 1001:
                        return

        await asyncio.wait_for(collect(), 20)
    await reader.close()
    # The budget (64 KiB) could not hold the backlog: live delivery of low
    # messages stopped, the server said so, and the SDK filled from history.
    gaps = [g for g in raw if isinstance(g, Gap)]
    assert gaps and all(g.room == "general" and g.after < g.upto for g in gaps)
    assert sorted(m.seq for m in got) == list(range(1, 1002))
    where = next(i for i, m in enumerate(got) if m.seq == urgent.seq)
    assert where < 150, where
    lows = [m.seq for m in got if m.priority == 3]
    assert lows == sorted(lows)


async def test_events_before_and_after_a_message_keep_their_order(server) -> None:
    async with logged_in(server) as a, logged_in(server) as b:
        room = unique("room")
        await a.join(room)
        await b.join(room)
        seen: list[Any] = []
        b.on_event(seen.append)
        # pipelined: the message and the leave are stored in one commit
        await asyncio.gather(a.send(room, "bye all"), a.leave(room))
        await asyncio.sleep(0.3)
        kinds = [
            type(e).__name__
            for e in seen
            if (isinstance(e, Message) and e.text == "bye all") or isinstance(e, Left)
        ]
        assert kinds == ["Message", "Left"]
