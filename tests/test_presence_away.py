"""Away and back against a real server: presence events and who."""

from __future__ import annotations

import pytest

from helpers import client_for, next_event, unique
from roost.client import RoostError
from roost.protocol.messages import Presence


async def test_away_and_back_shown_in_who_and_presence(server) -> None:
    a, b, room = unique("aw"), unique("ob"), unique("room")
    ca = client_for(server, a, reconnect=False)
    await ca.start()
    cb = client_for(server, b, reconnect=False)
    await cb.start()
    try:
        await ca.join(room)
        await cb.join(room)
        res = await ca.set_away("lunch")
        assert res == {"away": True, "reason": "lunch"}
        ev = await next_event(cb, Presence, user=a, away=True)
        assert ev.online and ev.reason == "lunch"
        members = {m.user: m for m in await cb.who(room)}
        assert members[a].away and members[a].reason == "lunch"
        assert not members[b].away
        await ca.back()
        ev = await next_event(cb, Presence, user=a, away=False)
        assert ev.online
        members = {m.user: m for m in await cb.who(room)}
        assert not members[a].away
    finally:
        await ca.close()
        await cb.close()


async def test_away_ends_with_the_last_session_and_reason_is_limited(server) -> None:
    a = unique("gone")
    ca = client_for(server, a, reconnect=False)
    await ca.start()
    with pytest.raises(RoostError) as err:
        await ca.set_away("x" * 201)
    assert err.value.code == "bad_request"
    await ca.set_away("brb")
    await ca.close()
    cb = client_for(server, unique("w"), reconnect=False)
    await cb.start()
    again = client_for(server, a, register=False, reconnect=False)
    await again.start()
    try:
        members = {m.user: m for m in await cb.who("general")}
        assert members[a].online and not members[a].away
    finally:
        await again.close()
        await cb.close()
