"""When an engine under the cluster fails: PostgreSQL stopped, Redis restarted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from cluster_helpers import until_room_known
from helpers import client_for, logged_in, next_event, unique
from modhelpers import Recorder, staff
from roost.client import Bye, Message, RoostError


async def _send_until_ok(client: Any, text: str, timeout: float, room: str = "general") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.send(room, text)
        except RoostError as exc:
            assert exc.code == "unavailable", exc
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_postgres_stopped_sends_fail_clearly_and_the_node_recovers(
    cluster: Any, engines: Any
) -> None:
    (node,) = cluster(1)
    async with logged_in(node, unique(), reconnect=False) as a:
        before = await a.send("general", "before")
        engines.postgres.stop()
        try:
            t0 = time.monotonic()
            failed = 0
            for i in range(3):
                try:
                    await asyncio.wait_for(a.send("general", f"while down {i}"), 15)
                except RoostError as exc:
                    assert exc.code == "unavailable" and "nothing was stored" in exc.message
                    failed += 1
            assert failed == 3, "no acknowledgement while the database is down"
            assert time.monotonic() - t0 < 15, "an error, not a hang"
        finally:
            engines.postgres.start()
        after = await _send_until_ok(a, "after", 20)
        assert after.seq == before.seq + 1  # nothing was stored (nor numbered) meanwhile
        page = await a.history_page("general")
        assert [m.text for m in page.messages][-2:] == ["before", "after"]


async def test_redis_restarted_nodes_deliver_locally_and_catch_up(
    cluster: Any, engines: Any
) -> None:
    a, b = cluster(2)
    async with (
        logged_in(a, unique("w")) as writer,
        logged_in(a, unique("near")) as near,
        logged_in(b, unique("far")) as far,
    ):
        first = await writer.send("general", "all up")
        await next_event(far, Message, text="all up")
        engines.redis.stop()
        try:
            sent = [(await writer.send("general", f"no redis {i}")).seq for i in range(10)]
            # The writer's node keeps delivering to its own readers.
            for i in range(10):
                got = await next_event(near, Message, text=f"no redis {i}")
                assert got.seq == sent[i]
        finally:
            engines.redis.start()
        more = [(await writer.send("general", f"redis back {i}")).seq for i in range(5)]
        seen: list[int] = []

        async def collect() -> None:
            async for ev in far.events():
                if isinstance(ev, Message) and ev.seq > first.seq:
                    seen.append(ev.seq)
                    if ev.seq >= more[-1]:
                        return

        await asyncio.wait_for(collect(), 20)
        assert seen == sent + more, "the far node caught up from PostgreSQL, in order, once"


async def test_kill_9_of_a_node_mid_stream_loses_no_acked_message(cluster: Any) -> None:
    a, b = cluster(2)
    reader = client_for(b, unique("r"))
    await reader.start()
    try:
        writer = client_for(a, unique("w"), reconnect=False)
        await writer.start()
        acked: list[tuple[int, str]] = []

        async def stream() -> None:
            for i in range(2000):
                res = await writer.send("general", f"k{i}")
                acked.append((res.seq, f"k{i}"))

        task = asyncio.create_task(stream())
        await asyncio.sleep(0.5)
        a.kill9()
        with contextlib.suppress(Exception):  # the writer's node died under it
            await asyncio.wait_for(task, 10)
        await writer.close()
        assert acked, "some messages were acknowledged before the kill"
        stored = {(m.seq, m.text) async for m in reader.history("general")}
        assert set(acked) <= stored
    finally:
        await reader.close()


async def test_a_block_issued_while_redis_is_down_reaches_the_other_node_after(
    cluster: Any, engines: Any
) -> None:
    a, b = cluster(2)
    boss = await staff(a, "boss")
    name = unique("late")
    try:
        victim = client_for(b, name, reconnect=False)
        await victim.start()
        seen = Recorder(victim)
        engines.redis.stop()
        try:
            await boss.block(name, reason="while redis was away")
        finally:
            engines.redis.start()
        bye = await seen.wait(lambda e: isinstance(e, Bye), 10)
        assert bye.code == "blocked"
        await victim.close()
    finally:
        await boss.close()


async def test_a_rename_made_while_redis_is_down_reaches_the_other_node_after(
    cluster: Any, engines: Any
) -> None:
    a, b = cluster(2)
    boss = await staff(a, "boss")
    old, new = unique("before"), unique("after")
    try:
        async with logged_in(b, reconnect=False) as carol:
            await carol.join(old)
            await carol.send(old, "kept")
            await until_room_known(boss, old)
            engines.redis.stop()
            try:
                await boss.rename_room(old, new)
            finally:
                engines.redis.start()
            # Node b re-reads the shared state once the bus is back: the room is
            # under the new name only, and a send under the old one is refused.
            deadline = time.monotonic() + 15
            while True:
                names = {r.name for r in await carol.rooms()}
                if new in names and old not in names:
                    break
                assert time.monotonic() < deadline, names
                await asyncio.sleep(0.2)
            sent = await carol.send(new, "after the outage")
            assert sent.seq == 2
            with pytest.raises(RoostError) as err:
                await carol.send(old, "to the old name")
            assert err.value.code == "no_such_room"
    finally:
        await boss.close()


async def test_a_room_delete_the_store_refuses_leaves_the_room_as_it_was(
    cluster: Any, engines: Any
) -> None:
    """PostgreSQL away: a room's deletion fails with a clear error, and the room
    stays on the node as in the store (it was dropped from the node's memory
    only, and its members there got no_such_room once the store was back)."""
    (node,) = cluster(1)
    room = unique("keep")
    boss = await staff(node, unique("boss"))
    try:
        async with logged_in(node, unique(), reconnect=False) as member:
            await member.join(room)
            first = await member.send(room, "before")
            engines.postgres.stop()
            try:
                with pytest.raises(RoostError) as err:
                    await asyncio.wait_for(boss.delete_room(room, "tidy"), 15)
                assert err.value.code in ("unavailable", "storage")
            finally:
                engines.postgres.start()
            after = await _send_until_ok(member, "after", 20, room)
            assert after.seq == first.seq + 1
            assert room in {r.name for r in await member.rooms() if r.joined}
    finally:
        await boss.close()
