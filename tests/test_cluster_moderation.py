"""Moderation and presence across the nodes of a cluster (PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cluster_helpers import behind_their_back
from helpers import client_for, logged_in, next_event, unique
from modhelpers import Recorder, audit_until, staff
from roost.client import Bye, Invited, Left, Presence, RoomChanged, RoostError


async def _bye(rec: Recorder, timeout: float) -> Bye:
    ev: Bye = await rec.wait(lambda e: isinstance(e, Bye), timeout)
    return ev


async def test_block_on_one_node_ends_sessions_on_another_within_a_second(cluster: Any) -> None:
    a, b = cluster(2)
    boss = await staff(a, "boss")
    name = unique("bad")
    try:
        victim = client_for(b, name, reconnect=False)
        await victim.start()
        seen = Recorder(victim)
        t0 = time.monotonic()
        await boss.block(name, reason="spam")
        bye = await _bye(seen, 1.0)
        assert time.monotonic() - t0 < 1.0
        assert bye.code == "blocked" and "spam" in bye.reason
        await victim.close()
        with pytest.raises(RoostError) as err:
            async with logged_in(b, name, register=False, reconnect=False):
                pass
        assert err.value.code == "blocked"
        await boss.unblock(name)
        await asyncio.sleep(0.3)  # the unblock reaches node b through the bus
        async with logged_in(b, name, register=False, reconnect=False) as back:
            assert (await back.send("general", "behaving now")).seq >= 1
    finally:
        await boss.close()


async def test_kick_on_one_node_of_a_user_connected_to_another(cluster: Any) -> None:
    a, b = cluster(2)
    boss = await staff(a, "boss")
    name = unique("loud")
    try:
        async with logged_in(b, name, reconnect=False) as victim:
            seen = Recorder(victim)
            await asyncio.sleep(0.3)  # presence reaches Redis
            res = await boss.kick(name, reason="calm down")
            assert res.action == "kick"
            bye = await _bye(seen, 1.0)
            assert bye.code == "kicked" and "calm down" in bye.reason
        with pytest.raises(RoostError) as err:
            await boss.kick("nobody-here")
        assert err.value.code in ("no_such_user", "bad_request")
    finally:
        await boss.close()


async def test_address_ban_and_role_change_reach_the_other_node(cluster: Any) -> None:
    a, b = cluster(2)
    boss = await staff(a, "boss")
    name = unique("mod")
    try:
        async with logged_in(b, name, reconnect=False) as member:
            with pytest.raises(RoostError):
                await member.blocks()  # a member may not list blocks
            await boss.set_role(name, "moderator")
            for _ in range(50):  # the role reaches node b's cached account
                try:
                    assert await member.blocks() == []
                    break
                except RoostError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the role change never reached node b")
        other = client_for(b, unique("plain"), reconnect=False)
        await other.start()
        seen = Recorder(other)
        await boss.ban_address("127.0.0.1", reason="all of localhost")
        bye = await _bye(seen, 1.0)
        assert bye.code == "banned"
        await other.close()
        with pytest.raises(RoostError) as err:
            async with logged_in(b, unique("new"), reconnect=False):
                pass
        assert err.value.code == "banned"
    finally:
        await boss.close()


async def test_admission_waiting_on_one_node_admitted_from_another(cluster: Any) -> None:
    a, b = cluster(2, registration="approve")
    boss = await staff(a, "boss")
    try:
        newbie = client_for(b, "newbie", reconnect=False)
        assert (await newbie.start()).status == "pending"
        for _ in range(50):
            if [p.user for p in await boss.pending()] == ["newbie"]:
                break
            await asyncio.sleep(0.05)
        await boss.admit("newbie")
        admitted = await newbie.wait_admitted(5)
        assert admitted.status == "active" and "general" in admitted.rooms
        sent = await newbie.send("general", "in through node b")
        assert sent.seq >= 1
        await newbie.close()
    finally:
        await boss.close()


async def test_presence_is_online_until_the_last_session_on_any_node_ends(cluster: Any) -> None:
    a, b = cluster(2)
    watcher = client_for(a, unique("w"))
    await watcher.start()
    seen = Recorder(watcher)
    name = unique("two")
    try:
        on_a = client_for(a, name, reconnect=False)
        await on_a.start()
        on_b = client_for(b, name, register=False, reconnect=False)
        await on_b.start()
        await asyncio.sleep(0.3)
        await on_a.close()
        await asyncio.sleep(0.5)
        offline = [e for e in seen.of(Presence) if e.user == name and not e.online]
        assert offline == [], "still online on node b"
        await on_b.close()
        await seen.wait(lambda e: isinstance(e, Presence) and e.user == name and not e.online, 3)
    finally:
        await watcher.close()


async def test_who_and_the_room_list_count_members_online_on_other_nodes(cluster: Any) -> None:
    a, b = cluster(2)
    room = unique("spread")
    async with logged_in(a) as asker, logged_in(b) as there:
        await asker.join(room)
        await there.join(room)

        async def shown() -> tuple[bool, int]:
            members = {m.user: m.online for m in await asker.who(room)}
            counts = {r.name: r.online for r in await asker.rooms()}
            return members.get(there.user, False), counts.get(room, 0)

        # node b's users reach node a's view with its next heartbeat (1 s)
        assert await _until(lambda: _is(shown, (True, 2)), "online on node b") == (True, 2)
        await there.close()
        assert await _until(lambda: _is(shown, (False, 1)), "gone from node b") == (False, 1)


async def _is(read: Any, want: Any) -> Any:
    got = await read()
    return got if got == want else None


async def test_users_of_a_dead_node_go_offline_within_seconds(cluster: Any) -> None:
    a, b = cluster(2)
    name = unique("gone")
    async with logged_in(a, unique("w")) as watcher:
        seen = Recorder(watcher)
        lost = client_for(b, name, reconnect=False)
        await lost.start()
        await next_event(watcher, Presence, user=name, online=True)
        t0 = time.monotonic()
        b.kill9()
        await seen.wait(lambda e: isinstance(e, Presence) and e.user == name and not e.online, 12)
        assert time.monotonic() - t0 < 12
        await lost.close()


async def _until(check: Any, what: str, timeout: float = 5.0) -> Any:
    """``await check()`` until it returns a true value (a change crossing the bus)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never reached the other node")


async def test_room_settings_and_room_moderation_cross_nodes(cluster: Any) -> None:
    a, b = cluster(2)
    room = unique("room")
    async with logged_in(a, reconnect=False) as owner, logged_in(b, reconnect=False) as guest:
        made = await owner.join(room, private=True)
        assert made.created and made.role == "owner"
        # The private room made on node a is private on node b too.
        with pytest.raises(RoostError) as err:
            await guest.join(room)
        assert err.value.code == "not_invited"
        await owner.invite(room, guest.user or "")
        assert (await next_event(guest, Invited, room=room)).by == owner.user
        await _until(lambda: _joined(guest, room), "the invitation")
        await owner.set_topic(room, "across nodes")
        ev = await next_event(guest, RoomChanged, room=room)
        assert ev.topic == "across nodes", ev

        async def topic_there() -> bool:
            return {r.name: r.topic for r in await guest.rooms()}[room] == "across nodes"

        await _until(topic_there, "the topic")

        async def member_on_a() -> bool:
            # The join went through node b: node a learns it from the bus a moment later.
            return guest.user in {m.user for m in await owner.who(room)}

        await _until(member_on_a, "the join on node a")
        # A room mute issued on node a holds on node b.
        await owner.room_mute(room, guest.user or "", 600, "wait")

        async def refused() -> bool:
            try:
                await guest.send(room, "may I?")
            except RoostError as exc:
                return exc.code == "muted"
            return False

        await _until(refused, "the room mute")
        await owner.room_unmute(room, guest.user or "")
        # A room kick on node a: node b's member is out, and is told so.
        await owner.room_kick(room, guest.user or "", "done")
        left = await next_event(guest, Left, room=room, user=guest.user)
        assert (left.by, left.reason) == (owner.user, "done")

        async def gone() -> bool:
            return guest.user not in {m.user for m in await owner.who(room)}

        await _until(gone, "the room kick")
        with pytest.raises(RoostError) as err:
            await guest.join(room)
        assert err.value.code == "not_invited"


async def _joined(client: Any, room: str) -> bool:
    try:
        await client.join(room)
    except RoostError:
        return False
    return True


async def _refused(client: Any, text: str) -> bool:
    """True if the send was refused by the rate limit."""
    try:
        await client.send("general", text)
    except RoostError as err:
        assert err.code == "rate_limited", err
        return True
    return False


async def test_rate_limits_failed_logins_and_strikes_count_across_nodes(cluster: Any) -> None:
    """A flood or a password guesser spread over two nodes gets the allowance of one."""
    a, b = cluster(
        2,
        msg_rate=0,  # only the account's limit: 10 at once, then 1 a second
        account_msg_rate=1,
        account_msg_burst=10,
        abuse_warn=2,
        abuse_mute=4,
        abuse_block=0,
        abuse_interval=0,
        login_fail_account=4,
        search_rate=0.01,
        search_burst=2,
    )
    boss = await staff(a, "boss")
    name = unique("flood")
    try:
        async with (
            logged_in(a, name, reconnect=False) as on_a,
            logged_in(b, name, register=False, reconnect=False) as on_b,
        ):
            for i in range(10):
                assert not await _refused(on_a, f"burst {i}")
            await asyncio.sleep(0.5)  # node a tells node b what the account spent
            refused = [await _refused(on_b, f"more {i}") for i in range(4)]
            # One may pass: the bucket refills at 1 a second meanwhile.
            assert sum(refused) >= 3, refused
            # The strikes of both nodes count together: 2 warn, 4 mute, each once.
            for i in range(4 - sum(refused)):
                assert await _refused(on_a, f"again {i}")
            entries = await audit_until(boss, 2)
            auto = sorted(e.action for e in entries if e.actor == "(auto)" and e.target == name)
            assert auto == ["mute", "warn"], entries
            # Searches too: two through node a use up the account's burst on node b.
            for _ in range(2):
                await on_a.search_page("burst")
            await asyncio.sleep(0.5)
            with pytest.raises(RoostError) as err:
                await on_b.search_page("burst")
            assert err.value.code == "rate_limited" and "searches" in err.value.message

        guessed = unique("guessed")
        async with logged_in(a, guessed, reconnect=False):
            pass
        for node in (a, b, a, b):  # 2 failures on each node, 4 in all
            wrong = client_for(node, guessed, "guess", register=False, reconnect=False)
            with pytest.raises(RoostError) as err:
                await wrong.start()
            assert err.value.code == "auth_failed"
        for node in (a, b):
            right = client_for(node, guessed, register=False, reconnect=False)
            with pytest.raises(RoostError) as err:
                await right.start()  # locked on both nodes: the cluster counted 4
            assert err.value.code == "rate_limited" and f"for {guessed}" in err.value.message
    finally:
        await boss.close()


async def test_a_sliding_count_that_lands_on_the_threshold_again_warns_once(
    cluster: Any,
) -> None:
    """Strikes 0.6 s apart in a 1 s window: the cluster's count stays at 2 (one
    leaves as one comes), and each landing on the threshold is not a new warning."""
    a, b = cluster(
        2,
        msg_rate=0,
        account_msg_rate=0.001,  # one message, then every send is refused
        account_msg_burst=1,
        abuse_window=1.0,
        abuse_warn=2,
        abuse_mute=0,
        abuse_block=0,
        abuse_interval=0,
    )
    boss = await staff(a, "boss")
    name = unique("slider")
    try:
        async with (
            logged_in(a, name, reconnect=False) as on_a,
            logged_in(b, name, register=False, reconnect=False) as on_b,
        ):
            await _refused(on_a, "first")
            await asyncio.sleep(0.3)  # node b learns what was spent
            for i in range(5):
                assert await _refused((on_a, on_b)[i % 2], f"strike {i}")
                await asyncio.sleep(0.6)
            warned = [e for e in await boss.audit() if e.actor == "(auto)" and e.target == name]
            assert [e.action for e in warned] == ["warn"], warned
    finally:
        await boss.close()


async def test_room_moderation_of_a_member_this_node_has_not_heard_of_yet(
    cluster: Any, pg_dsn: str
) -> None:
    """A join made on another node reaches a node's memory a few ms later (the
    bus's change and a re-read), or after an outage of Redis: a moderator there
    who acts on that member meanwhile is not told `not_a_member`, the store is
    asked first. The join is written behind node a's back, so a never hears of it."""
    a, b = cluster(2)
    room, alice = unique("den"), unique("alice")
    boss = await staff(a, unique("boss"))
    try:
        async with logged_in(a) as carol:
            await carol.join(room)
            async with logged_in(b, alice):
                pass
            await behind_their_back(pg_dsn, room, (alice,))
            b.restart()  # node b reads the join at its start; node a does not know it
            async with logged_in(b, alice, register=False) as on_b:
                assert on_b.session is not None and room in on_b.session.rooms
                res = await boss.room_mute(room, alice, 60, "hush")
                assert res.target == alice
                # Node b holds the mute once it has re-read the room (a few ms).
                for _ in range(50):
                    try:
                        await on_b.send(room, "still talking")
                    except RoostError as exc:
                        assert exc.code == "muted"
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("node b never applied the mute")
                await boss.set_room_role(room, alice, "moderator")
                await boss.room_kick(room, alice, "out")
                ev = await next_event(on_b, Left, room=room, user=alice)
                assert ev.by == boss.user
            # Someone who is in no such room, in memory or in the store, is still refused.
            async with logged_in(b) as eve:
                with pytest.raises(RoostError) as err:
                    await boss.room_mute(room, eve.user, 60)
                assert err.value.code == "not_a_member"
    finally:
        await boss.close()
