"""Delivery by priority against a real server: the most important queued message goes first.

A reader that is not reading is a raw socket that is not read (StalledReader)
or an SDK client whose reading is paused; 1,000 messages of 1 KiB make the
backlog far larger than what kernel buffers hold (about 128 KiB each side
here), so the server's outbox decides the order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import run_cli
from helpers import StalledReader, client_for, logged_in, pause_reading, resume_reading, unique
from roost.client import Client, Message
from roost.protocol.messages import Gap

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
        got = messages(await reader.read_all(chat=1001))
    reader.close()
    assert len(got) == 1001
    lows = [m for m in got if m.priority == 3]
    assert [m.seq for m in lows] == sorted(m.seq for m in lows)  # order kept within the class
    assert len({m.seq for m in lows}) == 1000
    where = next(i for i, m in enumerate(got) if m.seq == urgent.seq)
    assert got[where].priority == 0 and got[where].text == "URGENT"
    # Only what had left the outbox before the urgent message came (kernel and
    # transport buffers, under 300 KiB) is ahead of it; the rest follows it.
    assert where < 300, where
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
        got = messages(await reader.read_all(chat=1000))
    reader.close()
    assert sorted(m.seq for m in got) == list(range(1, 1001))
    for level in range(4):  # within a level, in seq order
        seqs = [m.seq for m in got if m.priority == level]
        assert len(seqs) == 250 and seqs == sorted(seqs)
    # What left before the backlog formed (kernel and transport buffers, under
    # 100 KiB) came as it was sent; from then on the outbox sent every queued
    # urgent message, then high, then normal, then low.
    rest = 0
    while got[rest:] != sorted(got[rest:], key=lambda m: (m.priority, m.seq)):
        rest += 1
    assert rest < 300, rest
    tail = [m.priority for m in got[rest:]]
    assert tail == sorted(tail) and set(tail) == {0, 1, 2, 3}


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
    # ahead of it only what the kernel (the client's receive buffer keeps its
    # default size here) and the transport held: under 400 KiB
    assert where < 400, where
    lows = [m.seq for m in got if m.priority == 3]
    assert lows == sorted(lows)


async def test_consumer_slower_than_the_local_queue_loses_nothing(
    server_factory, monkeypatch
) -> None:
    import roost.client.connection as sdk

    monkeypatch.setattr(sdk, "MAX_QUEUED_EVENTS", 50)  # the SDK's own queue, made small
    srv = server_factory(**FAST)
    async with logged_in(srv) as reader, logged_in(srv) as sender:
        other = unique("room")
        await sender.join(other)
        await reader.join(other)
        # the reader's SDK reads the socket, but nobody consumes events() yet
        items = [(f"m{i}", 2) for i in range(300)]
        await asyncio.gather(send_all(sender, "general", items), send_all(sender, other, items))
        await asyncio.sleep(0.5)
        assert len(reader._events) <= 50 and reader._dropped  # it did drop
        last = await sender.send("general", "last")
        got: dict[str, list[int]] = {"general": [], other: []}

        async def collect() -> None:
            async for ev in reader.events():
                if isinstance(ev, Message):
                    got[ev.room].append(ev.seq)
                    if ev.room == "general" and ev.seq == last.seq:
                        return

        await asyncio.wait_for(collect(), 20)
    assert got["general"] == list(range(1, last.seq + 1))
    assert got[other] == list(range(1, len(got[other]) + 1)) and len(got[other]) >= 50
