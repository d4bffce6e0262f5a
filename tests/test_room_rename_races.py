"""A rename while the room is busy: concurrent renames, writes racing it, an admin who vanishes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import pytest

from cluster_helpers import behind_their_back, until_room_known, until_waiting
from helpers import logged_in, next_event, pause_reading, resume_reading, unique
from modhelpers import staff
from roost.client import Message, RoomRenamed, RoostError
from roost.protocol.messages import RenameRoom
from test_priority_delivery import FAST, FILLER, send_all

# What a request racing a rename may meet: refused while it runs, or the old name after.
RACE_ERRORS = {"unavailable", "no_such_room"}


async def test_sends_joins_and_markers_racing_a_rename_lose_nothing(any_server: Any) -> None:
    srv = any_server
    old, new = unique("busy"), unique("calm")
    boss = await staff(srv, "boss")
    joiners = [unique("joiner") for _ in range(8)]
    acked: dict[int, str] = {}
    errors: list[str] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            carol = await stack.enter_async_context(logged_in(srv))
            await carol.join(old)
            # A room with some history, so that the store takes a while to move it.
            for chunk in range(6):
                texts = [f"warm-up {chunk * 500 + i}" for i in range(500)]
                for text, sent in zip(
                    texts, await asyncio.gather(*(carol.send(old, t) for t in texts)), strict=True
                ):
                    acked[sent.seq] = text

            async def sender() -> None:
                name = old
                deadline = time.monotonic() + 10
                for i in range(400):
                    if time.monotonic() > deadline:
                        break
                    text = f"racing {i}"
                    try:
                        sent = await carol.send(name, text)
                    except RoostError as exc:
                        errors.append(exc.code)
                        assert exc.code in RACE_ERRORS, exc
                        if exc.code == "no_such_room":
                            name = new
                        continue
                    acked[sent.seq] = text
                    if name == new and i > 100:
                        break

            clients = [await stack.enter_async_context(logged_in(srv, u)) for u in joiners]

            async def joiner(j: Any, delay: float) -> bool:
                await asyncio.sleep(delay)
                room = old
                for _ in range(400):
                    try:
                        await j.join(room, create=False)
                        await j.mark_read(room, 1)
                        return True
                    except RoostError as exc:
                        errors.append(exc.code)
                        assert exc.code in RACE_ERRORS, exc
                        if exc.code == "no_such_room":
                            room = new
                        await asyncio.sleep(0.002)
                return False

            send_task = asyncio.create_task(sender())
            join_tasks = [asyncio.create_task(joiner(j, i * 0.002)) for i, j in enumerate(clients)]
            await boss.rename_room(old, new)
            await send_task
            joined = await asyncio.gather(*join_tasks)
            assert all(joined)

            # Every acknowledged message is in the renamed room, under the seq it was given.
            stored = {m.seq: m.text for m in [m async for m in carol.history(new, after=0)]}
            for seq, text in acked.items():
                if not text.startswith("warm-up"):
                    assert stored.get(seq) == text, (seq, text)
            assert sorted(stored) == list(range(1, len(stored) + 1))
            members = {m.user for m in await carol.who(new)}
            assert set(joiners) <= members
            sent = await carol.send(new, "after it all")
            assert sent.seq == max(stored) + 1
            with pytest.raises(RoostError) as err:
                await carol.send(old, "to the old name")
            assert err.value.code == "no_such_room"
    finally:
        await boss.close()
    # What the store holds, not only this process's memory: every join is under the new name.
    srv.restart()
    async with logged_in(srv, joiners[0], register=False) as j:
        assert set(joiners) <= {m.user for m in await j.who(new)}
        assert j.session is not None and new in j.session.rooms


async def test_two_renames_at_once_one_wins(any_server: Any) -> None:
    srv = any_server
    first, second, target = unique("first"), unique("second"), unique("target")
    boss = await staff(srv, "boss")
    other = await staff(srv, "boss2")
    try:
        async with logged_in(srv) as carol:
            for room in (first, second):
                await carol.join(room)
                await carol.send(room, f"only in {room}")
            # Two rooms to one new name, and one room to two new names.
            outcomes = await asyncio.gather(
                boss.rename_room(first, target),
                other.rename_room(second, target),
                return_exceptions=True,
            )
            won = [o for o in outcomes if not isinstance(o, BaseException)]
            lost = [o for o in outcomes if isinstance(o, RoostError)]
            assert len(won) == 1 and len(lost) == 1, outcomes
            assert lost[0].code == "name_taken"
            loser = second if won[0].target == f"#{first}" else first
            texts = [m.text async for m in carol.history(target, after=0)]
            assert texts == [f"only in {first if loser == second else second}"]
            assert [m.text async for m in carol.history(loser, after=0)] == [f"only in {loser}"]
            sent = await carol.send(loser, "the loser still works")
            assert sent.seq == 2

            a, b = unique("left"), unique("right")
            outcomes = await asyncio.gather(
                boss.rename_room(loser, a), other.rename_room(loser, b), return_exceptions=True
            )
            errs = [o for o in outcomes if isinstance(o, RoostError)]
            assert len(errs) == 1, outcomes
            assert errs[0].code in RACE_ERRORS
            now = a if not isinstance(outcomes[0], BaseException) else b
            texts = [m.text async for m in carol.history(now, after=0)]
            assert texts == [f"only in {loser}", "the loser still works"]
            assert (await carol.send(now, "third")).seq == 3
    finally:
        await boss.close()
        await other.close()


async def test_a_rename_whose_admin_vanishes_still_ends_whole(any_server: Any) -> None:
    srv = any_server
    old, new = unique("orphan"), unique("adopted")
    boss = await staff(srv, "boss")
    async with logged_in(srv) as carol:
        await carol.join(old)
        for i in range(5):
            await carol.send(old, f"m{i}")
        # The request is written, and the admin's connection ends before any answer.
        boss._request(RenameRoom(id=0, room=old, new=new, reason="tidy"))
        await boss._drain()
        await boss.close()
        ev = await next_event(carol, RoomRenamed, room=old)
        assert ev.new == new
        sent = await carol.send(new, "after")
        assert sent.seq == 6
        with pytest.raises(RoostError) as err:
            await carol.send(old, "old")
        assert err.value.code == "no_such_room"
    srv.restart()
    async with logged_in(srv, carol.user, register=False) as again:
        texts = [m.text async for m in again.history(new, after=0)]
        assert texts == [*(f"m{i}" for i in range(5)), "after"]
        assert (await again.send(new, "after the restart")).seq == 7


async def test_a_room_renamed_on_two_nodes_at_once_is_renamed_once(cluster: Any) -> None:
    a, b = cluster(2)
    old, left, right = unique("contested"), unique("left"), unique("right")
    boss_a = await staff(a, "boss")
    boss_b = await staff(b, "boss2")
    try:
        async with logged_in(a) as carol:
            await carol.join(old)
            await carol.send(old, "one")
            await carol.send(old, "two")
            await until_room_known(boss_b, old)
            outcomes = await asyncio.gather(
                boss_a.rename_room(old, left),
                boss_b.rename_room(old, right),
                return_exceptions=True,
            )
            errs = [o for o in outcomes if isinstance(o, BaseException)]
            assert len(errs) == 1, outcomes
            assert isinstance(errs[0], RoostError) and errs[0].code == "no_such_room"
            now = left if not isinstance(outcomes[0], BaseException) else right
            gone = right if now == left else left
            # Told with the name that won (node a hears of a rename on node b through the bus).
            ev = await next_event(carol, RoomRenamed, room=old)
            assert ev.new == now
            texts = [m.text async for m in carol.history(now, after=0)]
            assert texts == ["one", "two"]
            with pytest.raises(RoostError) as err:
                await carol.history_page(gone, 0, 0, 10)
            assert err.value.code == "no_such_room"
            assert (await carol.send(now, "three")).seq == 3
    finally:
        await boss_a.close()
        await boss_b.close()


async def test_members_this_node_has_not_heard_of_yet_are_told_of_the_rename(
    cluster: Any, pg_dsn: str
) -> None:
    """Node a renames a room before it has applied another node's news of a join
    or an invitation (the bus's change is still in flight, or Redis lost it):
    those users are told from what the store holds, not only from a's memory.
    (Seen once in four full runs: a's re-read of b's join began before the
    rename request and was read again after it, so a told only its own member.)"""
    a, b = cluster(2)
    old, new = unique("annex"), unique("wing")
    boss = await staff(a, "boss")
    alice, dave = unique("alice"), unique("dave")
    try:
        async with logged_in(a) as carol:
            await carol.join(old)
            for user in (alice, dave):
                async with logged_in(b, user):
                    pass
            # A join and an invitation that node a has not heard of: written to the
            # store behind its back, then node b reads them at its start.
            await behind_their_back(pg_dsn, old, (alice,), {dave: carol.user})
            b.restart()
            async with (
                logged_in(b, alice, register=False) as on_b,
                logged_in(b, dave, register=False) as invitee,
            ):
                assert on_b.session is not None and old in on_b.session.rooms
                await boss.rename_room(old, new)
                for client in (carol, on_b, invitee):
                    ev = await next_event(client, RoomRenamed, room=old)
                    assert ev.new == new
                sent = await on_b.send(new, "heard it on node b")
                got = await next_event(carol, Message, text="heard it on node b")
                assert (got.room, got.seq) == (new, sent.seq)
    finally:
        await boss.close()


async def test_a_slow_reader_gets_every_message_once_across_a_rename(server_factory: Any) -> None:
    # A small outbox: the reader's queued messages of the old name are dropped
    # (a gap) and overtaken by the rename notice.
    srv = server_factory(outbox_budget=64 * 1024, stall_timeout=60.0, **FAST)
    old, new = unique("flood"), unique("after")
    boss = await staff(srv, "boss")
    try:
        async with logged_in(srv) as carol, logged_in(srv) as slow:
            await carol.join(old)
            await slow.join(old)
            pause_reading(slow)
            await send_all(carol, old, [(f"{i} {FILLER}", 0) for i in range(600)])
            await boss.rename_room(old, new)
            await send_all(carol, new, [(f"{600 + i} {FILLER}", 0) for i in range(50)])
            resume_reading(slow)
            seen: list[tuple[str, int]] = []
            renamed = 0

            async def collect() -> None:
                nonlocal renamed
                async for ev in slow.events():
                    if isinstance(ev, RoomRenamed) and ev.room == old:
                        renamed += 1
                    elif isinstance(ev, Message) and ev.room in (old, new):
                        seen.append((ev.room, ev.seq))
                        assert ev.text.startswith(f"{ev.seq - 1} ")
                        if ev.seq == 650:
                            return

            await asyncio.wait_for(collect(), 30)
            assert renamed == 1
            assert [seq for _, seq in seen] == list(range(1, 651))
            # The old name up to the notice, the new one after it; never back.
            rooms = [room for room, _ in seen]
            assert rooms == sorted(rooms, key=lambda r: r == new)
            assert slow.cursors.get(new) == 650 and old not in slow.cursors
    finally:
        await boss.close()


async def test_a_read_marker_due_under_the_old_name_lands_under_the_new(server: Any) -> None:
    old, new = unique("marked"), unique("moved")
    boss = await staff(server, "boss")
    try:
        async with logged_in(server) as carol:
            await carol.join(old)
            for i in range(3):
                await carol.send(old, f"m{i}")
            await boss.rename_room(old, new)
            await next_event(carol, RoomRenamed, room=old)
            # The terminal client's ReadSync may still hold a marker for the old name.
            info = await carol.mark_read(old, 2)
            assert (info.room, info.read) == (new, 2)
    finally:
        await boss.close()


async def test_an_invitee_hears_of_the_rename_and_joins_under_the_new_name(server: Any) -> None:
    old, new = unique("secret"), unique("hidden")
    boss = await staff(server, "boss")
    try:
        async with logged_in(server) as owner, logged_in(server) as dave:
            await owner.join(old, private=True)
            await owner.invite(old, dave.user)
            await boss.rename_room(old, new)
            ev = await next_event(dave, RoomRenamed, room=old)
            assert ev.new == new
            joined = await dave.join(new, create=False)
            assert joined.private and joined.room == new
    finally:
        await boss.close()


async def test_a_join_or_invitation_on_another_node_waiting_on_the_rename_is_refused(
    cluster: Any,
) -> None:
    """Node b stores a join and an invitation while node a's rename holds the
    room's row (the rename waits on a lock after it took the row): both wait
    for the rename, then fail with no_such_room ("renamed to"), for who is told
    of the rename is whom it moved in its own transaction. (Before, they
    followed the rename into the new name after it, and neither the joiner nor
    the invitee was told of it, unless a's read after the commit came late.)"""
    a, b = cluster(2)
    old, new = unique("annex"), unique("wing")
    boss = await staff(a, unique("boss"))
    db = await asyncpg.connect(a.config["store"])
    try:
        async with (
            logged_in(a) as carol,
            logged_in(b) as eve,
            logged_in(b) as frank,
            logged_in(b) as dave,
        ):
            await carol.join(old)
            await carol.send(old, "a message, so that the room has a counter row")
            await until_room_known(eve, old)
            await eve.join(old, create=False)
            tx = db.transaction()
            await tx.start()
            # The counter row: the rename takes the room's row, then waits here.
            await db.execute("SELECT 1 FROM seqs WHERE room = $1 FOR UPDATE", old)
            renaming = asyncio.ensure_future(boss.rename_room(old, new))
            await until_waiting(
                db,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'SELECT last FROM seqs%FOR UPDATE'",
            )
            joining = asyncio.ensure_future(frank.join(old, create=False))
            inviting = asyncio.ensure_future(eve.invite(old, dave.user or ""))
            # Both wait for the room's row, which the rename holds.
            await until_waiting(
                db,
                "SELECT count(*) >= 2 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND (query LIKE 'INSERT INTO room_users%'"
                " OR query LIKE 'SELECT deleted, renamed_to FROM rooms%FOR KEY SHARE')",
            )
            await tx.rollback()
            result = await asyncio.wait_for(renaming, 10)
            assert result.room == new
            for request in (joining, inviting):
                with pytest.raises(RoostError) as err:
                    await asyncio.wait_for(request, 10)
                assert err.value.code == "no_such_room", err.value
                assert f"renamed to #{new}" in err.value.message, err.value
            for client in (carol, eve):
                ev = await next_event(client, RoomRenamed, room=old)
                assert ev.new == new
            members = await db.fetch('SELECT "user" FROM members WHERE room = $1', new)
            assert {r["user"] for r in members} == {carol.user, eve.user}
            invited = await db.fetchval(
                "SELECT count(*) FROM room_users WHERE room = $1 AND invited_by <> ''", new
            )
            assert invited == 0
            # Under the new name, once node b has heard of the rename, both work.
            for _ in range(50):
                if new in {r.name for r in await eve.rooms()}:
                    break
                await asyncio.sleep(0.05)
            assert (await frank.join(new, create=False)).room == new
            assert (await eve.invite(new, dave.user or "")).target == dave.user
            assert (await dave.join(new, create=False)).room == new
            members = await db.fetch('SELECT "user" FROM members WHERE room = $1', new)
            assert {r["user"] for r in members} == {carol.user, eve.user, frank.user, dave.user}
    finally:
        await db.close()
        await boss.close()
