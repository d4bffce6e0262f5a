"""Rooms, direct messages, presence and history against a real server."""

from __future__ import annotations

import asyncio

import pytest

from conftest import RunningServer
from helpers import PASSWORD, client_for, logged_in, next_event, unique
from roost.client import Joined, Left, Message, Presence, RoostError


@pytest.fixture
def server(any_server: RunningServer) -> RunningServer:
    """These behaviours hold on SQLite and on PostgreSQL alike."""
    return any_server


async def test_room_message_reaches_every_online_member(server) -> None:
    async with logged_in(server) as a, logged_in(server) as b, logged_in(server) as c:
        sent = await a.send("general", "hello all")
        assert sent.room == "general" and sent.seq >= 1
        for client in (a, b, c):
            ev = await next_event(client, Message, text="hello all")
            assert ev.sender == a.user and ev.seq == sent.seq and ev.room == "general"


async def test_direct_message_reaches_only_the_two_parties(server) -> None:
    async with logged_in(server) as a, logged_in(server) as b, logged_in(server) as c:
        sent = await a.send("@" + b.user, "psst")
        ev = await next_event(b, Message, text="psst")
        assert ev.sender == a.user and ev.room == sent.room and ev.room.startswith("@")
        await c.send("general", "marker")
        # c sees its marker but never the direct message
        got = []

        async def collect() -> None:
            async for e in c.events():
                if isinstance(e, Message):
                    got.append(e.text)
                    if e.text == "marker":
                        return

        await asyncio.wait_for(collect(), 5)
        assert "psst" not in got


async def test_join_leave_notices_and_who(server) -> None:
    async with logged_in(server) as a, logged_in(server) as b:
        room = unique("room")
        joined = await a.join(room)
        assert joined.created and joined.room == room
        await b.join(room)
        ev = await next_event(a, Joined, room=room, user=b.user)
        assert ev.user == b.user
        members = {m.user: m for m in await a.who(room)}
        assert set(members) == {a.user, b.user}
        assert all(m.online for m in members.values())
        await b.leave(room)
        await next_event(a, Left, room=room, user=b.user)
        assert {m.user for m in await a.who(room)} == {a.user}
        rooms = {r.name: r for r in await b.rooms()}
        assert rooms[room].joined is False and rooms["general"].joined is True


async def test_presence_online_and_offline(server) -> None:
    async with logged_in(server) as a:
        b = client_for(server, unique())
        await b.start()
        await next_event(a, Presence, user=b.user, online=True)
        await b.close()
        await next_event(a, Presence, user=b.user, online=False)


async def test_history_pages_oldest_first(server) -> None:
    async with logged_in(server) as a:
        room = unique("hist")
        await a.join(room)
        for i in range(25):
            await a.send(room, f"m{i}")
        page = await a.history_page(room, after=0, limit=10)
        assert [m.text for m in page.messages] == [f"m{i}" for i in range(10)]
        assert page.last_seq == 25
        everything = [m async for m in a.history(room)]
        assert [m.seq for m in everything] == list(range(1, 26))
        last5 = await a.latest(room, 5)
        assert [m.text for m in last5] == [f"m{i}" for i in range(20, 25)]


async def test_sender_priority_is_capped_at_own_level(server) -> None:
    async with logged_in(server) as a:
        await a.send("general", "low one", priority=3)
        ev = await next_event(a, Message, text="low one")
        assert ev.priority == 3
        await a.send("general", "asks urgent", priority=0)
        ev = await next_event(a, Message, text="asks urgent")
        assert ev.priority == 2  # a member's own level is normal; it cannot raise it


async def test_two_sessions_of_one_account_both_work(server) -> None:
    name = unique()
    async with logged_in(server, name) as s1, logged_in(server, name) as s2:
        await s1.send("general", "from one")
        await s2.send("general", "from two")
        for s in (s1, s2):
            await next_event(s, Message, text="from two")


async def test_wrong_password_and_unknown_user_are_refused(server) -> None:
    name = unique()
    async with logged_in(server, name):
        pass
    bad = client_for(server, name, "wrong", register=False, reconnect=False)
    with pytest.raises(RoostError) as err:
        await bad.start()
    assert err.value.code == "auth_failed"
    ghost = client_for(server, unique("ghost"), PASSWORD, register=False, reconnect=False)
    with pytest.raises(RoostError) as err:
        await ghost.start()
    assert err.value.code == "auth_failed"


async def test_unknown_room_and_user_and_membership_errors(server) -> None:
    async with logged_in(server) as a:
        with pytest.raises(RoostError) as err:
            await a.send("nosuchroom", "x")
        assert err.value.code == "no_such_room"
        with pytest.raises(RoostError) as err:
            await a.send("@nobody-here", "x")
        assert err.value.code == "no_such_user"
        with pytest.raises(RoostError) as err:
            await a.who("nosuchroom")
        assert err.value.code == "no_such_room"
        with pytest.raises(RoostError) as err:
            await a.send("bad name!", "x")
        assert err.value.code == "invalid_name"
        # the connection still works after the errors
        assert (await a.send("general", "still here")).seq >= 1
