"""Renaming a room: history, seqs, members, markers and search move; clients follow."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from helpers import client_for, logged_in, next_event, unique
from modhelpers import staff
from roost.client import Message, RoomRenamed, RoostError
from roost.protocol.messages import FileResult, Put, Upload, UploadDone, UploadResult


async def test_a_renamed_room_keeps_its_history_seqs_markers_and_members(any_server: Any) -> None:
    srv = any_server
    old, new = unique("plans"), unique("roadmap")
    boss = await staff(srv, "boss")
    away_name = unique("away")
    try:
        async with logged_in(srv, away_name, reconnect=False) as away:
            await away.join(old)
        async with logged_in(srv) as alice:
            await alice.join(old)
            for i in range(3):
                await alice.send(old, f"step {i} of the pelican plan")
            await alice.mark_read(old, 2)
            with pytest.raises(RoostError) as err:
                await alice.rename_room(old, new)
            assert err.value.code == "forbidden"

            done = await boss.rename_room(old, new, "clearer name")
            assert done.room == new
            ev = await next_event(alice, RoomRenamed, room=old)
            assert (ev.new, ev.by, ev.reason) == (new, "boss", "clearer name")
            assert alice.cursors.get(new) == 3 and old not in alice.cursors

            # Same messages under the same seqs, and the next one follows them.
            assert [m.seq for m in await _history(alice, new)] == [1, 2, 3]
            sent = await alice.send(new, "step 3 of the pelican plan")
            assert (sent.room, sent.seq) == (new, 4)
            got = await next_event(alice, Message, text="step 3 of the pelican plan")
            assert got.room == new
            with pytest.raises(RoostError) as err:
                await alice.send(old, "to the old name")
            assert err.value.code == "no_such_room"
            with pytest.raises(RoostError):
                await alice.join(old)  # the old name stays taken: never a new room
            found = await alice.search_page("pelican", room=new)
            assert sorted(m.seq for m in found.messages) == [1, 2, 3, 4]
            assert all(m.room == new for m in found.messages)

        # A member who was away during the rename comes back with the old name
        # in its cursors: told of the rename, it catches up under the new name.
        back = client_for(srv, away_name, register=False, cursors={old: 0})
        await back.start()
        try:
            assert back.session is not None
            assert back.session.renamed == {old: new}
            assert back.session.read.get(new) is None  # its own marker: it read nothing
            ev = await next_event(back, RoomRenamed, room=old)
            assert ev.new == new
            first = await next_event(back, Message, room=new)
            assert first.seq == 1
            assert old not in back.cursors
        finally:
            await back.close()

        async with logged_in(srv, unique("late")) as late:
            rooms = {r.name for r in await late.rooms()}
            assert new in rooms and old not in rooms
        entries = await boss.audit()
        assert any(e.action == "rename_room" and e.target == f"#{old}" for e in entries)
    finally:
        await boss.close()


async def test_a_rename_is_refused_for_default_rooms_and_taken_names(server: Any) -> None:
    boss = await staff(server, "boss")
    a, b = unique("room"), unique("room")
    try:
        await boss.join(a)
        await boss.join(b)
        for room, new, code in (
            ("general", unique("x"), "bad_request"),
            (a, b, "name_taken"),
            (a, a, "bad_request"),
            (unique("none"), unique("x"), "no_such_room"),
            (a, "bad name!", "invalid_name"),
        ):
            with pytest.raises(RoostError) as err:
                await boss.rename_room(room, new)
            assert err.value.code == code, (room, new, err.value)
        await boss.rename_room(a, unique("moved"))
        with pytest.raises(RoostError) as err:
            await boss.rename_room(b, a)  # a's old name stays taken
        assert err.value.code == "name_taken"
    finally:
        await boss.close()


async def test_a_rename_survives_a_restart_and_the_next_rename(server: Any) -> None:
    boss = await staff(server, "boss")
    first, second, third = unique("one"), unique("two"), unique("three")
    try:
        await boss.join(first)
        await boss.send(first, "kept through two renames")
        await boss.rename_room(first, second)
        await boss.rename_room(second, third)
    finally:
        await boss.close()
    server.restart()
    async with logged_in(server, "boss", register=False) as again:
        assert again.session is not None
        assert again.session.renamed == {first: third, second: third}
        assert [m.text for m in await _history(again, third)] == ["kept through two renames"]
        sent = await again.send(third, "and one more")
        assert sent.seq == 2


async def _history(client: Any, room: str) -> list[Message]:
    return [m async for m in client.history(room)]


async def test_a_rename_on_one_node_moves_the_room_on_the_other(cluster: Any) -> None:
    a, b = cluster(2)
    old, new = unique("lab"), unique("studio")
    boss = await staff(a, "boss")
    try:
        async with logged_in(a) as carol, logged_in(b) as alice:
            await carol.join(old)
            await alice.join(old)
            await carol.send(old, "before the rename")
            await next_event(alice, Message, text="before the rename")
            await boss.rename_room(old, new)
            ev = await next_event(alice, RoomRenamed, room=old)  # alice is on the other node
            assert ev.new == new
            await next_event(carol, RoomRenamed, room=old)
            sent = await alice.send(new, "from node b")
            assert (sent.room, sent.seq) == (new, 2)
            got = await next_event(carol, Message, text="from node b")
            assert (got.room, got.seq) == (new, 2)
            await carol.send(new, "from node a")
            got = await next_event(alice, Message, text="from node a")
            assert (got.room, got.seq) == (new, 3)
            with pytest.raises(RoostError) as err:
                await alice.send(old, "to the old name on node b")
            assert err.value.code == "no_such_room"
        # Node b knows the rename too: a login there is told of it.
        async with logged_in(b, unique("late")) as late:
            await late.join(new)
        away = client_for(b, alice.user or "", register=False, cursors={old: 1})
        await away.start()
        try:
            assert away.session is not None and away.session.renamed.get(old) == new
            got = await next_event(away, Message, room=new)
            assert got.seq == 2  # what it missed, under the new name, from where it was
        finally:
            await away.close()
    finally:
        await boss.close()


async def test_an_upload_under_way_is_offered_in_the_renamed_room(server: Any) -> None:
    old, new = unique("drafts"), unique("papers")
    boss = await staff(server, "boss")
    body = b"pelican" * 100
    try:
        await boss.join(old)
        started = await boss._call(
            Upload(id=0, to=old, name="notes.txt", size=len(body)), UploadResult
        )
        await boss._call(Put(id=0, upload=started.upload, offset=0, data=body[:300]))
        await boss.rename_room(old, new)
        await boss._call(Put(id=0, upload=started.upload, offset=300, data=body[300:]))
        done = await boss._call(
            UploadDone(id=0, upload=started.upload, sha256=hashlib.sha256(body).hexdigest()),
            FileResult,
        )
        assert done.room == new
        offer = [m async for m in boss.history(new)][-1]
        assert offer.file is not None and offer.file.id == done.file.id
    finally:
        await boss.close()


async def test_bad_new_names_are_refused_and_change_nothing(server: Any) -> None:
    old = unique("named")
    boss = await staff(server, "boss")
    try:
        await boss.join(old)
        await boss.send(old, "still here")
        cases = {
            "": "invalid_name",
            "x" * 33: "invalid_name",
            "../etc/passwd": "invalid_name",
            "two words": "invalid_name",
            "-dash": "invalid_name",
            "caf\u00e9": "invalid_name",
            old.upper(): "bad_request",  # the same name, in other letters
            f"#{old}": "bad_request",
            "general": "name_taken",
        }
        for new, code in cases.items():
            with pytest.raises(RoostError) as err:
                await boss.rename_room(old, new)
            assert err.value.code == code, (new, err.value)
        with pytest.raises(RoostError) as err:
            await boss.rename_room(unique("nothere"), unique("x"))
        assert err.value.code == "no_such_room"
        assert (await boss.send(old, "and still")).seq == 2
        # A leading # is the room-name notation, not part of the name.
        moved = unique("moved")
        res = await boss.rename_room(f"#{old}", f"#{moved.upper()}")
        assert res.room == moved
        assert [m.text for m in await _history(boss, moved)] == ["still here", "and still"]
    finally:
        await boss.close()
