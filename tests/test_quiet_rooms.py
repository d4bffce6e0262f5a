"""Rooms bigger than quiet_room_size announce no joins, leaves or presence (docs/protocol.md 6).

Speed is measured in bench/big_room.py; these tests check who is told what.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from helpers import client_for, unique
from modhelpers import Recorder
from roost.client import Joined, Left, Message, Presence

LIMIT = 3


async def members(stack: AsyncExitStack, server: Any, count: int) -> list[Any]:
    out = []
    for _ in range(count):
        client = client_for(server, unique("q"))
        await client.start()
        stack.push_async_callback(client.close)
        out.append(client)
    return out


async def test_a_room_past_the_limit_stops_announcing(server_factory: Any) -> None:
    # No default rooms: a shared "general" would carry presence of its own.
    server = server_factory(quiet_room_size=LIMIT, default_rooms=[])
    room = unique("quiet")
    async with AsyncExitStack() as stack:
        a, b, c, d = await members(stack, server, LIMIT + 1)
        seen = Recorder(a)
        for client in (a, b, c):
            assert (await client.join(room)).quiet is False
        await seen.wait(lambda e: isinstance(e, Joined) and e.user == c.user)
        d2 = client_for(server, d.user, register=False)  # a second session of d
        await d2.start()
        stack.push_async_callback(d2.close)
        twin = Recorder(d2)
        # The fourth member makes the room quiet: its own sessions are told, the room is not.
        assert (await d.join(room)).quiet is True
        await twin.wait(lambda e: isinstance(e, Joined) and e.user == d.user)
        assert [r.quiet for r in await a.rooms() if r.name == room] == [True]
        # Presence does not travel through a quiet room.
        await b.close()
        b_again = client_for(server, b.user, register=False)
        await b_again.start()
        stack.push_async_callback(b_again.close)
        # A leave is not announced to the room either.
        await d.leave(room)
        await twin.wait(lambda e: isinstance(e, Left) and e.user == d.user)
        # Something a is told after all that, so that everything before it has arrived.
        await d2.send(f"@{a.user}", "flush")
        await seen.wait(lambda e: isinstance(e, Message) and e.text == "flush")
        assert not [e for e in seen.of(Joined) if e.user == d.user]
        assert not [e for e in seen.of(Left) if e.user == d.user]
        assert not [e for e in seen.of(Presence) if e.user == b.user]
        # Who is in it is still there for whoever asks.
        assert sorted(m.user for m in await a.who(room)) == sorted([a.user, b.user, c.user])


async def test_rooms_at_or_below_the_limit_announce(server_factory: Any) -> None:
    server = server_factory(quiet_room_size=LIMIT, default_rooms=[])
    room = unique("small")
    async with AsyncExitStack() as stack:
        a, b, c = await members(stack, server, LIMIT)
        seen = Recorder(a)
        await a.join(room)
        await b.join(room)
        result = await c.join(room)
        assert result.quiet is False
        await seen.wait(lambda e: isinstance(e, Joined) and e.user == c.user)
        await c.close()
        await seen.wait(lambda e: isinstance(e, Presence) and e.user == c.user and not e.online)
        await b.leave(room)
        await seen.wait(lambda e: isinstance(e, Left) and e.user == b.user)


async def test_zero_turns_quiet_rooms_off(server_factory: Any) -> None:
    server = server_factory(quiet_room_size=0, default_rooms=[])
    room = unique("loud")
    async with AsyncExitStack() as stack:
        clients = await members(stack, server, 6)
        seen = Recorder(clients[0])
        for c in clients:
            assert (await c.join(room)).quiet is False
        await seen.wait(lambda e: isinstance(e, Joined) and e.user == clients[-1].user)
