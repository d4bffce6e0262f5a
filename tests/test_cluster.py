"""Several `roost serve` processes on one PostgreSQL and one Redis act as one server."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from cluster_helpers import Balancer
from helpers import client_for, logged_in, next_event, unique
from modhelpers import staff
from roost.client import Message
from roost.protocol.messages import Presence


async def _collect(client: Any, room: str, count: int, timeout: float = 20.0) -> list[Message]:
    got: list[Message] = []

    async def run() -> None:
        async for ev in client.events():
            if isinstance(ev, Message) and ev.room == room:
                got.append(ev)
                if len(got) >= count:
                    return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_accounts_and_rooms_made_on_one_node_work_on_another(cluster: Any) -> None:
    a, b = cluster(2)
    name, room = unique(), unique("room")
    async with logged_in(a, name) as on_a:
        await on_a.join(room)
        await on_a.send(room, "made on a")
    async with logged_in(b, name, register=False) as on_b:
        rooms = {r.name: r for r in await on_b.rooms()}
        assert rooms[room].joined
        page = await on_b.history_page(room)
        assert [m.text for m in page.messages] == ["made on a"]
        assert (await on_b.send(room, "sent on b")).seq == 2


async def test_a_message_sent_on_one_node_reaches_readers_on_the_others(cluster: Any) -> None:
    nodes = cluster(3)
    async with (
        logged_in(nodes[0]) as x,
        logged_in(nodes[1]) as y,
        logged_in(nodes[2]) as z,
    ):
        sent = await x.send("general", "across")
        for reader in (y, z):
            ev = await next_event(reader, Message, text="across")
            assert ev.seq == sent.seq and ev.sender == x.user


async def test_senders_on_three_nodes_get_gapless_seqs_and_one_order_everywhere(
    cluster: Any,
) -> None:
    nodes = cluster(3)
    per_sender = 60
    senders = [client_for(n, unique("s")) for n in nodes]
    readers = [client_for(n, unique("r")) for n in nodes for _ in range(2)]
    for c in senders + readers:
        await c.start()
    try:
        total = per_sender * len(senders)
        collecting = [asyncio.create_task(_collect(r, "general", total)) for r in readers]
        results = await asyncio.gather(
            *(s.send("general", f"{s.user} {i}") for s in senders for i in range(per_sender))
        )
        seqs = sorted(r.seq for r in results)
        first = seqs[0]
        assert seqs == list(range(first, first + total)), "seqs are distinct and gapless"
        orders = [[(m.seq, m.text) for m in await task] for task in collecting]
        for order in orders:
            assert [s for s, _ in order] == seqs  # every reader: all of them, in seq order
            assert order == orders[0]  # and the same text at each seq everywhere
    finally:
        for c in senders + readers:
            await c.close()


async def test_resume_on_another_node_after_kill_9_loses_and_doubles_nothing(
    cluster: Any,
) -> None:
    nodes = cluster(2)
    async with Balancer(nodes) as lb:
        writer_node = nodes[1]
        reader = client_for(lb, unique("r"), max_backoff=0.5)
        await reader.start()
        try:
            # The balancer put the reader on nodes[0]: the writer goes to nodes[1].
            async with logged_in(writer_node, unique("w")) as writer:
                before = [(await writer.send("general", f"m{i}")).seq for i in range(20)]
                got = await _collect(reader, "general", 20)
                assert [m.seq for m in got] == before
                nodes[0].kill9()
                # While the reader is away (and reconnecting through the balancer).
                during = [(await writer.send("general", f"n{i}")).seq for i in range(30)]
                rest = await _collect(reader, "general", 30)
            assert [m.seq for m in rest] == during, "what it missed, in order, once"
            assert [m.text for m in rest] == [f"n{i}" for i in range(30)]
        finally:
            await reader.close()


async def _waiting_on(conn: asyncpg.Connection, table: str, count: int) -> None:
    """Until ``count`` statements of other sessions wait for a lock on ``table``."""
    for _ in range(500):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass", table
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {count} statements waiting on {table}")


async def test_a_join_made_while_its_node_re_reads_the_room_is_kept(cluster: Any) -> None:
    """Node b re-reads #general for a change made on node a; a newcomer who
    registers on b meanwhile (a default-room join) must stay a member on b,
    though b's read began before the join's row was stored."""
    a, b = cluster(2)
    boss = await staff(a)
    lock = await asyncpg.connect(a.config["store"])
    try:
        async with logged_in(a) as sender:
            tx = lock.transaction()
            await tx.start()
            # Every statement on the members table waits: b's re-read, then b's join.
            await lock.execute("LOCK TABLE members IN ACCESS EXCLUSIVE MODE")
            await boss.set_topic("general", "re-read me")
            await _waiting_on(lock, "members", 1)
            newcomer = client_for(b, unique("new"))
            joining = asyncio.ensure_future(newcomer.start())
            await _waiting_on(lock, "members", 2)
            await tx.rollback()
            await asyncio.wait_for(joining, 10)
            try:
                await asyncio.sleep(0.3)  # b applies its re-read
                sent = await sender.send("general", "after the re-read")
                ev = await next_event(newcomer, Message, text="after the re-read")
                assert ev.seq == sent.seq
                rooms = {r.name: r for r in await newcomer.rooms()}
                assert rooms["general"].joined
            finally:
                await newcomer.close()
    finally:
        await lock.close()
        await boss.close()


async def _who_once_online(client: Any, room: str, user: str) -> Any:
    """``who`` of the room once it shows ``user`` online (a node learns of the
    sessions on another from that node's next heartbeat: within a second)."""
    for _ in range(40):
        members = {m.user: m for m in await client.who(room)}
        if members[user].online:
            return members[user]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user} never shown online")


async def test_away_set_on_one_node_shows_in_who_on_another(cluster: Any) -> None:
    """Away is a state of the online user, kept in memory: every node learns it
    through the bus, and forgets it when the user's last session ends."""
    a, b = cluster(2)
    user, room = unique("aw"), unique("room")
    on_a = client_for(a, user, reconnect=False)
    await on_a.start()
    async with logged_in(b) as watcher:
        await on_a.join(room)
        await watcher.join(room)
        await on_a.set_away("lunch")
        ev = await next_event(watcher, Presence, user=user, away=True)
        assert ev.reason == "lunch"
        seen = await _who_once_online(watcher, room, user)
        assert seen.away and seen.reason == "lunch"
        await on_a.back()
        await next_event(watcher, Presence, user=user, away=False)
        assert not (await _who_once_online(watcher, room, user)).away
        await on_a.set_away("gone home")
        await next_event(watcher, Presence, user=user, away=True)
        await on_a.close()
        await next_event(watcher, Presence, user=user, online=False)
        # Back later through the watcher's node: online, and not away any more.
        async with logged_in(b, user, register=False):
            await next_event(watcher, Presence, user=user, online=True)
            assert not (await _who_once_online(watcher, room, user)).away
