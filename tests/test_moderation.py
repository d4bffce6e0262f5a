"""Roles, blocks, kicks, mutes, bans, priorities and the audit log against a real server."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpers import client_for, logged_in, next_event, unique
from modhelpers import Recorder, add_account, first_frame, staff
from roost.client import Bye, ConnectionState, Message, Moderation, Notice, RoostError
from roost.protocol.messages import ServerHello


async def test_member_cannot_run_any_moderator_command(server) -> None:
    async with logged_in(server) as member, logged_in(server) as other:
        name = other.user
        assert name is not None
        attempts = [
            member.block(name, reason="x"),
            member.unblock(name),
            member.kick(name),
            member.mute(name),
            member.unmute(name),
            member.set_priority(name, 0),
            member.set_role(name, "admin"),
            member.ban_address("10.0.0.1"),
            member.unban_address("10.0.0.1"),
            member.blocks(),
            member.pending(),
            member.admit(name),
            member.refuse(name),
            member.audit(),
        ]
        for attempt in attempts:
            with pytest.raises(RoostError) as err:
                await attempt
            assert err.value.code == "forbidden", err.value
        # nothing happened to the other account
        sent = await other.send("general", "still free")
        assert (await next_event(other, Message, text="still free")).seq == sent.seq


async def test_moderators_act_on_members_only_and_admins_set_levels(server) -> None:
    boss = await staff(server, "boss", "admin")
    mod = await staff(server, "mod", "moderator")
    try:
        async with logged_in(server) as member:
            assert member.user is not None
            for attempt, code in (
                (mod.block("boss"), "forbidden"),
                (mod.kick("boss"), "forbidden"),
                (mod.set_priority(member.user, 0), "forbidden"),
                (mod.set_role(member.user, "moderator"), "forbidden"),
                (mod.block("mod"), "bad_request"),
                (mod.block("nobody-here"), "no_such_user"),
                (mod.block(member.user, duration=-5), "bad_request"),
                (boss.set_priority(member.user, 7), "bad_request"),
                (boss.ban_address("not-an-address"), "bad_request"),
                (boss.unblock(member.user), "bad_request"),
            ):
                with pytest.raises(RoostError) as err:
                    await attempt
                assert err.value.code == code, err.value
            # an admin may act on a moderator
            res = await boss.mute("mod", 60, "test")
            assert res.action == "mute" and res.target == "mod" and res.expires > time.time()
    finally:
        await mod.close()
        await boss.close()


async def test_block_ends_every_session_at_once_and_login_is_refused(server) -> None:
    boss = await staff(server)
    victim = unique("victim")
    try:
        async with logged_in(server) as witness:
            one = client_for(server, victim)  # reconnect=True: it must still stay out
            await one.start()
            two = client_for(server, victim)
            await two.start()
            seen = Recorder(boss)
            res = await boss.block(victim, reason="spamming links")
            assert res.sessions == 2
            for session in (one, two):
                bye = await next_event(session, Bye)
                assert bye.code == "blocked" and "spamming links" in bye.reason
                assert "boss" in bye.reason
                closed = await next_event(session, ConnectionState, state="closed")
                assert "spamming links" in closed.detail
            # the room sees a notice, the moderators an event
            notice = await next_event(witness, Notice, room="general")
            assert victim in notice.text and "blocked" in notice.text
            mod = await seen.wait(lambda e: isinstance(e, Moderation))
            assert (mod.entry.action, mod.entry.target) == ("block", victim)
            # a new login is refused with the reason, and the SDK did not loop reconnecting
            again = client_for(server, victim, register=False, reconnect=False)
            with pytest.raises(RoostError) as err:
                await again.start()
            assert err.value.code == "blocked"
            assert "spamming links" in err.value.message and "until lifted" in err.value.message
            await asyncio.sleep(0.5)
            assert server.log().count(f"as {victim}") == 2  # the two logins before the block
    finally:
        await boss.close()


async def test_an_expired_block_lets_them_back(server) -> None:
    boss = await staff(server)
    name = unique()
    try:
        async with logged_in(server, name):
            pass
        res = await boss.block(name, duration=1.0, reason="cool off")
        assert 0 < res.expires - time.time() <= 1.0
        refused = client_for(server, name, register=False, reconnect=False)
        with pytest.raises(RoostError) as err:
            await refused.start()
        assert err.value.code == "blocked" and "until 2" in err.value.message
        await asyncio.sleep(max(0.0, res.expires - time.time()) + 0.1)
        async with logged_in(server, name, register=False) as back:
            assert (await back.send("general", "I am back")).seq >= 1
        # the server lifts it for good and says so in the audit log
        for _ in range(50):
            entries = await boss.audit(target=name)
            if [e.action for e in entries] == ["block", "unblock"]:
                break
            await asyncio.sleep(0.1)
        assert [(e.actor, e.action, e.reason) for e in entries] == [
            ("boss", "block", "cool off"),
            ("(auto)", "unblock", "expired"),
        ]
        assert await boss.blocks() == []
    finally:
        await boss.close()


async def test_blocks_mutes_and_bans_survive_a_restart(server) -> None:
    blocked, muted = unique("blocked"), unique("muted")
    boss = await staff(server)
    async with logged_in(server, blocked), logged_in(server, muted):
        pass
    await boss.block(blocked, reason="kept")
    await boss.mute(muted, 3600, "quiet")
    await boss.ban_address("198.51.100.0/24", reason="range")
    await boss.close()
    server.restart()
    async with logged_in(server, "boss", register=False) as boss:
        kinds = {(s.kind, s.target, s.reason) for s in await boss.blocks()}
        assert kinds == {
            ("block", blocked, "kept"),
            ("mute", muted, "quiet"),
            ("ban", "198.51.100.0/24", "range"),
        }
        with pytest.raises(RoostError) as err:
            await client_for(server, blocked, register=False, reconnect=False).start()
        assert err.value.code == "blocked" and "kept" in err.value.message
        async with logged_in(server, muted, register=False) as m:
            with pytest.raises(RoostError) as err:
                await m.send("general", "hello?")
            assert err.value.code == "muted" and "quiet" in err.value.message
        assert len(await boss.audit()) == 3


async def test_address_ban_refuses_new_connections_until_unbanned(server) -> None:
    boss = await staff(server)
    try:
        member = client_for(server, unique(), reconnect=False)
        await member.start()
        res = await boss.ban_address("127.0.0.0/8", reason="whole loopback")
        assert res.target == "127.0.0.0/8" and res.sessions >= 1
        bye = await next_event(member, Bye)
        assert bye.code == "banned" and "whole loopback" in bye.reason
        # a new connection gets a bye instead of the hello
        first = await first_frame(server)
        assert isinstance(first, Bye) and first.code == "banned"
        with pytest.raises(RoostError) as err:
            await client_for(server, unique("newcomer"), reconnect=False).start()
        assert err.value.code == "banned" and "whole loopback" in err.value.message
        # the moderator's own session stays, so the ban can be lifted
        assert [s.target for s in await boss.blocks()] == ["127.0.0.0/8"]
        await boss.unban_address("127.0.0.1/8")  # any address of the network names it
        assert isinstance(await first_frame(server), ServerHello)
        # a single address works the same way
        single = await boss.ban_address("127.0.0.1", duration=3600)
        assert single.target == "127.0.0.1" and single.expires > time.time()
        assert isinstance(await first_frame(server), Bye)
        await boss.unban_address("127.0.0.1")
        async with logged_in(server) as fine:
            assert fine.session is not None
        actions = [(e.action, e.target) for e in await boss.audit()]
        assert actions == [
            ("ban", "127.0.0.0/8"),
            ("unban", "127.0.0.0/8"),
            ("ban", "127.0.0.1"),
            ("unban", "127.0.0.1"),
        ]
    finally:
        await boss.close()


async def test_kick_mute_and_unmute(server) -> None:
    boss = await staff(server)
    name = unique()
    try:
        victim = client_for(server, name)
        await victim.start()
        res = await boss.kick(name, "take a break")
        assert res.sessions == 1
        bye = await next_event(victim, Bye)
        assert bye.code == "kicked" and "take a break" in bye.reason
        with pytest.raises(RoostError) as err:
            await boss.kick(name)
        assert err.value.code == "bad_request" and "not connected" in err.value.message
        async with logged_in(server, name, register=False) as again, logged_in(server) as witness:
            await boss.mute(name, reason="too loud")
            told = await next_event(again, Notice)
            assert "muted" in told.text and "too loud" in told.text
            with pytest.raises(RoostError) as err:
                await again.send("general", "can you hear me")
            assert err.value.code == "muted" and "too loud" in err.value.message
            await witness.send("general", "others still talk")  # only the muted one is stopped
            await boss.unmute(name)
            assert (await again.send("general", "thanks")).seq >= 1
            # a timed mute ends by itself
            await boss.mute(name, 0.5)
            with pytest.raises(RoostError):
                await again.send("general", "not yet")
            await asyncio.sleep(0.6)
            assert (await again.send("general", "now")).seq >= 1
    finally:
        await boss.close()


async def test_priority_and_role_changes_take_effect_at_once(server) -> None:
    boss = await staff(server)
    try:
        async with logged_in(server) as member:
            assert member.user is not None
            await member.send("general", "before", priority=None)
            assert (await next_event(member, Message, text="before")).priority == 2
            res = await boss.set_priority(member.user, 0)
            assert res.priority == 0
            told = await next_event(member, Notice)
            assert "urgent" in told.text
            await member.send("general", "after")
            assert (await next_event(member, Message, text="after")).priority == 0
            with pytest.raises(RoostError):
                await member.blocks()
            await boss.set_role(member.user, "moderator")
            assert await member.blocks() == []  # now allowed
            entries = [(e.action, e.detail) for e in await boss.audit(target=member.user)]
            assert entries == [("priority", "to urgent"), ("role", "to moderator")]
    finally:
        await boss.close()


async def test_audit_log_and_moderator_events(server) -> None:
    boss = await staff(server, "boss", "admin")
    mod = await staff(server, "mod", "moderator")
    try:
        watching = Recorder(mod)
        names = [unique("m") for _ in range(2)]
        for name in names:
            async with logged_in(server, name):
                pass
        await boss.block(names[0], 600, "first reason")
        await boss.mute(names[1], reason="second reason")
        await boss.unblock(names[0])
        await watching.wait(lambda e: isinstance(e, Moderation) and e.entry.action == "unblock")
        assert watching.actions() == [
            ("boss", "block", names[0]),
            ("boss", "mute", names[1]),
            ("boss", "unblock", names[0]),
        ]
        log = await mod.audit()
        assert [(e.actor, e.action, e.target, e.reason) for e in log] == [
            ("boss", "block", names[0], "first reason"),
            ("boss", "mute", names[1], "second reason"),
            ("boss", "unblock", names[0], ""),
        ]
        assert [e.id for e in log] == sorted(e.id for e in log)
        assert all(abs(e.ts - time.time()) < 60 for e in log)
        assert "boss blocked" in log[0].text and "first reason" in log[0].text
        assert [e.action for e in await mod.audit(target=names[0])] == ["block", "unblock"]
        assert [e.action for e in await mod.audit(limit=1)] == ["unblock"]
        older = await mod.audit(before=log[-1].id)
        assert [e.id for e in older] == [log[0].id, log[1].id]
    finally:
        await mod.close()
        await boss.close()


async def test_accounts_made_offline_can_moderate_at_once(server) -> None:
    add_account(server, "late", "moderator")
    async with logged_in(server, "late", register=False) as late:
        assert late.session is not None and late.session.role == "moderator"
        assert await late.pending() == []
