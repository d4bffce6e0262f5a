"""Topics, private rooms and invitations, room roles, room kicks and mutes, deleting a room."""

from __future__ import annotations

import sqlite3

import pytest

from helpers import client_for, logged_in, next_event, unique
from modhelpers import audit_until, staff
from roost.client import Invited, Left, Message, Notice, RoomChanged, RoomDeleted, RoostError


async def test_the_creator_owns_a_room_and_sets_its_topic_which_members_see(server) -> None:
    room = unique("room")
    async with logged_in(server) as alice, logged_in(server) as bob:
        made = await alice.join(room)
        assert made.created and made.role == "owner" and made.topic == ""
        joined = await bob.join(room)
        assert joined.role == "" and not joined.created
        info = await alice.set_topic(room, "  release on Friday  ")
        assert info.topic == "release on Friday" and info.role == "owner"
        ev = await next_event(bob, RoomChanged, room=room)
        assert (ev.topic, ev.by, ev.private) == ("release on Friday", alice.user, False)
        # A plain member may not set it; a room moderator may.
        with pytest.raises(RoostError) as err:
            await bob.set_topic(room, "mine now")
        assert err.value.code == "forbidden" and "moderators and owners" in err.value.message
        await alice.set_room_role(room, bob.user or "", "moderator")
        await bob.set_topic(room, "moderated")
        listed = {r.name: r for r in await bob.rooms()}
        assert listed[room].topic == "moderated" and listed[room].role == "moderator"
        roles = {m.user: m.room_role for m in await alice.who(room)}
        assert roles == {alice.user: "owner", bob.user: "moderator"}
    # A later joiner is told the topic in the join result.
    async with logged_in(server) as carol:
        assert (await carol.join(room)).topic == "moderated"


async def test_bad_topics_are_refused_with_a_reason(server_factory) -> None:
    srv = server_factory(max_topic=20)
    room = unique("room")
    async with logged_in(srv) as alice:
        assert alice.limits.max_topic == 20
        await alice.join(room)
        for topic, words in (("x" * 21, "limit of 20"), ("two\nlines", "one line")):
            with pytest.raises(RoostError) as err:
                await alice.set_topic(room, topic)
            assert err.value.code == "bad_request" and words in err.value.message
        with pytest.raises(RoostError) as err:
            await alice.set_topic("no-such-room-here", "x")
        assert err.value.code == "no_such_room"
        assert (await alice.set_topic(room, "ok")).topic == "ok"


async def test_a_private_room_is_unlisted_and_joined_only_by_invitation(server) -> None:
    room = unique("secret")
    async with logged_in(server) as alice, logged_in(server) as bob, logged_in(server) as eve:
        made = await alice.join(room, private=True)
        assert made.private and made.role == "owner"
        assert room not in {r.name for r in await eve.rooms()}
        with pytest.raises(RoostError) as err:
            await eve.join(room)
        assert err.value.code == "not_invited" and "private" in err.value.message
        with pytest.raises(RoostError) as err:
            await eve.who(room)
        assert err.value.code == "no_such_room"
        with pytest.raises(RoostError) as err:
            await eve.history_page(room, 0, 0, 10)
        assert err.value.code in ("not_a_member", "no_such_room")
        # A plain member of a private room may not invite; the owner may.
        await alice.invite(room, bob.user or "")
        ev = await next_event(bob, Invited, room=room)
        assert ev.by == alice.user and ev.private
        listed = {r.name: r for r in await bob.rooms()}
        assert listed[room].invited and listed[room].private and not listed[room].joined
        await bob.join(room)
        with pytest.raises(RoostError) as err:
            await bob.invite(room, eve.user or "")
        assert err.value.code == "forbidden"
        # The invitation was used up by the join: put out, bob cannot come back.
        await alice.room_kick(room, bob.user or "", "enough")
        with pytest.raises(RoostError) as err:
            await bob.join(room)
        assert err.value.code == "not_invited"
        # Public again: listed and open to all.
        info = await alice.set_private(room, False)
        assert not info.private
        assert room in {r.name for r in await eve.rooms()}
        await eve.join(room)
        entries = await audit_until_by(alice, server, "room_public")
        assert entries


async def audit_until_by(client, srv, action: str) -> list:
    boss = await staff(srv, unique("boss"))
    try:
        entries = await audit_until(boss, 1)
        return [e for e in entries if e.action == action]
    finally:
        await boss.close()


async def test_invitations_reach_every_session_and_unknown_users_are_refused(server) -> None:
    room = unique("room")
    async with logged_in(server) as alice, logged_in(server) as bob:
        await alice.join(room)
        second = client_for(server, bob.user or "", register=False)
        await second.start()
        try:
            await alice.invite(room, bob.user or "")
            for c in (bob, second):
                assert (await next_event(c, Invited, room=room)).by == alice.user
        finally:
            await second.close()
        with pytest.raises(RoostError) as err:
            await alice.invite(room, "nobody-by-that-name")
        assert err.value.code == "no_such_user"
        await bob.join(room)
        with pytest.raises(RoostError) as err:
            await alice.invite(room, bob.user or "")
        assert err.value.code == "bad_request" and "already" in err.value.message


async def test_a_room_kick_puts_a_member_out_with_the_reason_and_is_audited(server) -> None:
    room = unique("room")
    async with logged_in(server) as alice, logged_in(server) as bob, logged_in(server) as carol:
        for c in (alice, bob, carol):
            await c.join(room)
        await alice.set_room_role(room, carol.user or "", "moderator")
        result = await carol.room_kick(room, bob.user or "", "spam")
        assert (result.action, result.target, result.room) == ("room_kick", bob.user, room)
        for c in (alice, bob):
            ev = await next_event(c, Left, room=room, user=bob.user)
            assert (ev.by, ev.reason) == (carol.user, "spam")
        assert bob.user not in {m.user for m in await alice.who(room)}
        with pytest.raises(RoostError) as err:
            await bob.send(room, "still here?")
        assert err.value.code == "not_a_member"
        # A public room: bob may join again (a kick is not a ban).
        await bob.join(room)
        # Nobody acts on a higher or equal rank: a room moderator on the owner, nor on itself.
        with pytest.raises(RoostError) as err:
            await carol.room_kick(room, alice.user or "")
        assert err.value.code == "forbidden"
        with pytest.raises(RoostError) as err:
            await carol.room_kick(room, carol.user or "")
        assert err.value.code == "bad_request"
        with pytest.raises(RoostError) as err:
            await bob.room_kick(room, carol.user or "")
        assert err.value.code == "forbidden"
    boss = await staff(server, unique("boss"))
    try:
        entries = [e for e in await audit_until(boss, 1) if e.action == "room_kick"]
        assert entries and entries[-1].target == bob.user and entries[-1].reason == "spam"
        assert f"#{room}" in entries[-1].text and carol.user in entries[-1].text
    finally:
        await boss.close()


async def test_a_room_mute_stops_posting_in_that_room_only(server, tmp_path) -> None:
    room, other = unique("room"), unique("room")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG" + bytes(100))
    async with logged_in(server) as alice, logged_in(server) as bob:
        for r in (room, other):
            await alice.join(r)
            await bob.join(r)
        sent_before = await alice.send(room, "react to me")
        result = await alice.room_mute(room, bob.user or "", 3600, "cool down")
        assert result.expires > 0 and result.room == room
        notice = await next_event(bob, Notice, room=room)
        assert "muted" in notice.text and "cool down" in notice.text
        with pytest.raises(RoostError) as err:
            await bob.send(room, "hello?")
        assert err.value.code == "muted" and f"#{room}" in err.value.message
        for attempt in (bob.react(room, sent_before.seq, "👍"), bob.upload(photo, room)):
            with pytest.raises(RoostError) as err:
                await attempt
            assert err.value.code == "muted"
        await bob.send(other, "fine here")  # other rooms are not touched
        await bob.send("@" + (alice.user or ""), "and in private")
        assert {m.user: m.muted for m in await alice.who(room)}[bob.user] is True
        await alice.room_unmute(room, bob.user or "")
        sent = await bob.send(room, "back")
        assert sent.seq > 0
        with pytest.raises(RoostError) as err:
            await alice.room_unmute(room, bob.user or "")
        assert err.value.code == "bad_request"


async def test_server_staff_act_in_every_room_and_admins_delete_rooms(server) -> None:
    room = unique("room")
    boss = await staff(server, unique("boss"))
    try:
        async with logged_in(server) as alice, logged_in(server) as bob:
            await alice.join(room, private=True)
            # Staff see a private room, may set its topic and put its owner out.
            assert room in {r.name for r in await boss.rooms()}
            await boss.set_topic(room, "under review")
            await alice.invite(room, bob.user or "")
            await bob.join(room)
            await alice.send(room, "to be deleted")
            with pytest.raises(RoostError) as err:
                await alice.delete_room(room)
            assert err.value.code == "forbidden"
            with pytest.raises(RoostError) as err:
                await boss.delete_room("general")
            assert err.value.code == "bad_request"
            result = await boss.delete_room(room, "abuse")
            assert result.action == "delete_room"
            for c in (alice, bob):
                ev = await next_event(c, RoomDeleted, room=room)
                assert (ev.by, ev.reason) == (boss.user, "abuse")
            assert room not in {r.name for r in await alice.rooms()}
            with pytest.raises(RoostError) as err:
                await alice.send(room, "anyone?")
            assert err.value.code == "no_such_room"
            # The name is not given out again: its history must not come back to life.
            with pytest.raises(RoostError) as err:
                await bob.join(room)
            assert err.value.code == "no_such_room" and "deleted" in err.value.message
            # Its history is gone from the store (read beside the running server).
            db = sqlite3.connect(f"file:{server.data_dir / 'roost.db'}?mode=ro", uri=True)
            try:
                left = db.execute("SELECT count(*) FROM messages WHERE room = ?", (room,))
                assert left.fetchone()[0] == 0
            finally:
                db.close()
    finally:
        await boss.close()


async def test_room_settings_survive_a_restart(server_factory) -> None:
    srv = server_factory()
    room = unique("room")
    async with logged_in(srv) as alice, logged_in(srv) as bob:
        await alice.join(room, private=True)
        await alice.set_topic(room, "kept")
        await alice.invite(room, bob.user or "")
        await bob.join(room)
        await alice.set_room_role(room, bob.user or "", "moderator")
        await alice.room_mute(room, bob.user or "")
        names = (alice.user or "", bob.user or "")
    srv.restart()
    async with logged_in(srv, names[0], register=False) as alice:
        listed = {r.name: r for r in await alice.rooms()}
        assert listed[room].topic == "kept" and listed[room].private
        people = {m.user: m for m in await alice.who(room)}
        assert people[names[1]].room_role == "moderator" and people[names[1]].muted
        assert people[names[0]].room_role == "owner"
    async with logged_in(srv, names[1], register=False) as bob:
        with pytest.raises(RoostError) as err:
            await bob.send(room, "x")
        assert err.value.code == "muted"


async def test_a_message_in_a_room_before_a_kick_stays_in_history(server) -> None:
    room = unique("room")
    async with logged_in(server) as alice, logged_in(server) as bob:
        await alice.join(room)
        await bob.join(room)
        sent = await bob.send(room, "before")
        await alice.room_kick(room, bob.user or "")
        page = await alice.history_page(room, 0, 0, 10)
        texts = [m.text for m in page.messages if isinstance(m, Message)]
        assert "before" in texts and page.last_seq >= sent.seq
