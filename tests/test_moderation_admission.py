"""The admission queue (registration = "approve") against a real server."""

from __future__ import annotations

import asyncio

import pytest

from helpers import client_for, logged_in, next_event, unique
from modhelpers import Recorder, add_account, staff
from roost.client import Bye, Message, Moderation, Notice, RoostError


async def test_newcomer_waits_then_is_admitted_on_the_same_connection(server_factory) -> None:
    srv = server_factory(registration="approve")
    boss = await staff(srv, "boss", "admin")
    add_account(srv, "old", None)  # accounts from `roost user add` need no admission
    try:
        seen = Recorder(boss)
        newbie = client_for(srv, "newbie")
        session = await newbie.start()
        assert session.status == "pending" and session.rooms == [] and session.token == ""
        assert newbie.pending_admission
        notice = await next_event(newbie, Notice)
        assert "waits for a moderator" in notice.text
        for attempt in (newbie.send("general", "let me in"), newbie.rooms(), newbie.join("x")):
            with pytest.raises(RoostError) as err:
                await attempt
            assert err.value.code == "pending"
        # the moderators are told, with the name and the address
        told = await seen.wait(lambda e: isinstance(e, Moderation))
        assert told.entry.action == "pending" and told.entry.target == "newbie"
        assert "127.0.0.1" in told.entry.text
        [waiting] = await boss.pending()
        assert (waiting.user, waiting.online, waiting.address) == ("newbie", True, "127.0.0.1")
        # everyone else is served meanwhile
        async with logged_in(srv, "old", register=False) as old:
            sent = await old.send("general", "business as usual")
            assert (await next_event(old, Message, text="business as usual")).seq == sent.seq
        res = await boss.admit("newbie", priority=3)
        assert res.priority == 3
        admitted = await newbie.wait_admitted(5)
        assert admitted.status == "active" and admitted.token and "general" in admitted.rooms
        assert not newbie.pending_admission and newbie.token == admitted.token
        welcome = await next_event(newbie, Notice)
        assert "boss admitted you" in welcome.text
        sent = await newbie.send("general", "hello, I am in")
        got = await next_event(newbie, Message, text="hello, I am in")
        assert got.seq == sent.seq and got.priority == 3
        assert await boss.pending() == []
        assert [e.action for e in await boss.audit(target="newbie")] == ["pending", "admit"]
        await newbie.close()
        # admitted for good: a later login goes straight in
        async with logged_in(srv, "newbie", register=False) as again:
            assert again.session is not None and again.session.status == "active"
    finally:
        await boss.close()


async def test_refused_and_blocked_newcomers_are_turned_away(server_factory) -> None:
    srv = server_factory(registration="approve")
    mod = await staff(srv, "mod", "moderator")
    try:
        spammer = client_for(srv, "spammer")
        await spammer.start()
        lurker = client_for(srv, "lurker")
        await lurker.start()
        res = await mod.refuse("spammer", "no bots here")
        assert res.sessions == 1
        with pytest.raises(RoostError) as err:
            await spammer.wait_admitted(5)
        assert err.value.code == "refused" and "no bots here" in err.value.message
        # the account is gone, so its name is free again
        assert [p.user for p in await mod.pending()] == ["lurker"]
        with pytest.raises(RoostError) as err:
            await mod.admit("spammer")
        assert err.value.code == "no_such_user"
        # block, the other answer a moderator can give
        await mod.block("lurker", reason="known troll")
        bye = await next_event(lurker, Bye)
        assert bye.code == "blocked" and "known troll" in bye.reason
        with pytest.raises(RoostError) as err:
            await client_for(srv, "lurker", register=False, reconnect=False).start()
        assert err.value.code == "blocked"
        # moderators may admit at normal or low priority only
        waiting = client_for(srv, unique("new"))
        await waiting.start()
        assert waiting.user is not None
        with pytest.raises(RoostError) as err:
            await mod.admit(waiting.user, priority=0)
        assert err.value.code == "forbidden"
        await mod.admit(waiting.user)
        assert (await waiting.wait_admitted(5)).priority == 2
        await waiting.close()
        actions = [(e.action, e.target) for e in await mod.audit()]
        assert ("refuse", "spammer") in actions and ("block", "lurker") in actions
    finally:
        await mod.close()


async def test_a_waiting_newcomer_who_comes_back_waits_again(server_factory) -> None:
    srv = server_factory(registration="approve")
    boss = await staff(srv)
    try:
        first = client_for(srv, "returner", reconnect=False)
        await first.start()
        await first.close()
        for _ in range(50):  # the server notices the disconnect
            if not (await boss.pending())[0].online:
                break
            await asyncio.sleep(0.05)
        [offline] = await boss.pending()
        assert offline.user == "returner" and not offline.online
        again = client_for(srv, "returner", register=False)
        assert (await again.start()).status == "pending"
        await boss.admit("returner")
        await again.wait_admitted(5)
        assert (await again.send("general", "finally")).seq >= 1
        await again.close()
        notes = [e.detail for e in await boss.audit(target="returner") if e.action == "pending"]
        assert notes == ["from 127.0.0.1", "back from 127.0.0.1"]
        # admitted is a one-time answer; admitting again is an error
        with pytest.raises(RoostError) as err:
            await boss.admit("returner")
        assert err.value.code == "bad_request"
    finally:
        await boss.close()
