"""Read markers and unread counts against a real server: stored, synced across devices."""

from __future__ import annotations

import pytest

from helpers import client_for, next_event, unique
from roost.client import RoostError
from roost.protocol.messages import ReadMarker


async def test_read_marker_counts_and_syncs_to_other_sessions(any_server) -> None:
    name, other, room = unique("rd"), unique("snd"), unique("room")
    phone = client_for(any_server, name, reconnect=False)
    await phone.start()
    laptop = client_for(any_server, name, register=False, reconnect=False)
    await laptop.start()
    talker = client_for(any_server, other, reconnect=False)
    await talker.start()
    try:
        await phone.join(room)
        await talker.join(room)
        for i in range(5):
            last = await talker.send(room, f"line {i}")
        counts = {u.room: u for u in await laptop.unread()}
        assert (counts[room].unread, counts[room].read, counts[room].last_seq) == (5, 0, 5)
        info = await phone.mark_read(room, 3)
        assert (info.read, info.unread) == (3, 2)
        ev = await next_event(laptop, ReadMarker, room=room)
        assert (ev.seq, ev.unread) == (3, 2)
        # Never goes back; a marker past the end is held to the last message.
        assert (await laptop.mark_read(room, 1)).read == 3
        assert (await laptop.mark_read(room, 99)).read == last.seq
        counts = {u.room: u for u in await phone.unread()}
        assert counts[room].unread == 0
    finally:
        for c in (phone, laptop, talker):
            await c.close()
    # Kept on the server: a new login is told the marker.
    again = client_for(any_server, name, register=False, reconnect=False)
    session = await again.start()
    try:
        assert session.read[room] == 5
    finally:
        await again.close()


async def test_read_marker_of_a_conversation_not_ones_own_is_refused(server) -> None:
    a = client_for(server, unique("ra"), reconnect=False)
    await a.start()
    try:
        with pytest.raises(RoostError) as err:
            await a.mark_read("general-not-joined", 1)
        assert err.value.code == "no_such_room"
        await a.join(room := unique("r"))
        await a.leave(room)
        with pytest.raises(RoostError) as err:
            await a.mark_read(room, 1)
        assert err.value.code == "not_a_member"
        with pytest.raises(RoostError) as err:
            await a.mark_read("@x+y", 1)
        assert err.value.code == "forbidden"
        with pytest.raises(RoostError) as err:
            await a.mark_read("general", -1)
        assert err.value.code == "bad_request"
    finally:
        await a.close()


async def test_direct_conversation_unread(server) -> None:
    a, b = unique("da"), unique("db")
    ca = client_for(server, a, reconnect=False)
    await ca.start()
    cb = client_for(server, b, reconnect=False)
    await cb.start()
    try:
        sent = await ca.send(f"@{b}", "hi there")
        counts = {u.room: u for u in await cb.unread()}
        assert counts[sent.room].unread == 1
        await cb.mark_read(f"@{a}", sent.seq)
        counts = {u.room: u for u in await cb.unread()}
        assert counts[sent.room].unread == 0
    finally:
        await ca.close()
        await cb.close()
