"""Typing indicators against a real server: relayed to members, rate-limited, not stored."""

from __future__ import annotations

import asyncio

import pytest

from helpers import client_for, next_event, unique
from roost.client import RoostError
from roost.protocol.messages import TypingEvent


async def test_typing_relayed_once_per_interval_and_not_stored(server_factory) -> None:
    srv = server_factory(typing_interval=0.5)
    a, b, room = unique("ty"), unique("see"), unique("room")
    ca = client_for(srv, a, reconnect=False)
    await ca.start()
    cb = client_for(srv, b, reconnect=False)
    await cb.start()
    try:
        assert ca.limits is not None and ca.limits.typing_interval == 0.5
        await ca.join(room)
        await cb.join(room)
        assert await ca.typing(room) is True
        ev = await next_event(cb, TypingEvent, room=room)
        assert ev.user == a
        assert await ca.typing(room) is False  # within the interval: not relayed
        await asyncio.sleep(0.6)
        assert await ca.typing(room) is True
        page = await cb.history_page(room)
        assert page.messages == [] and page.last_seq == 0
        # direct conversations too
        assert await cb.typing(f"@{a}") is True
        ev = await next_event(ca, TypingEvent, user=b)
        assert ev.room.startswith("@")
    finally:
        await ca.close()
        await cb.close()


async def test_typing_needs_membership(server) -> None:
    ca = client_for(server, unique("tn"), reconnect=False)
    await ca.start()
    try:
        with pytest.raises(RoostError) as err:
            await ca.typing("nowhere")
        assert err.value.code == "no_such_room"
        with pytest.raises(RoostError) as err:
            await ca.typing("@nosuchuser")
        assert err.value.code == "no_such_user"
    finally:
        await ca.close()


async def test_typing_off_when_interval_zero(server_factory) -> None:
    srv = server_factory(typing_interval=0)
    ca = client_for(srv, unique("t0"), reconnect=False)
    await ca.start()
    try:
        assert await ca.typing("general") is False
    finally:
        await ca.close()
