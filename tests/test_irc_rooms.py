"""Room settings through the IRC gateway: TOPIC, INVITE, KICK, MODE +o/+i, against a
real server with native SDK clients beside the IRC connection (docs/irc.md)."""

from __future__ import annotations

import asyncio

from helpers import logged_in, next_event, unique
from irc_helpers import IrcLines, irc_server
from modhelpers import staff
from roost.client import Invited, Left, Message, RoomChanged


async def test_topic_invite_modes_and_room_kicks(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("irc")
    room, secret = unique("plans"), unique("secret")
    irc = await IrcLines.open(srv)
    await irc.register(nick)
    await irc.until(r" 366 \S+ #general ")
    async with logged_in(srv) as bob:
        # The IRC user creates the room, so owns it.
        irc.send(f"JOIN #{room}")
        assert f"#{room} :No topic is set" in await irc.until(r" 331 ")
        await bob.join(room)
        await irc.until(rf"JOIN #{room}")
        irc.send(f"TOPIC #{room} :Launch on Friday")
        ev = await next_event(bob, RoomChanged, room=room)
        assert (ev.topic, ev.by) == ("Launch on Friday", nick)
        got = await irc.until(r" TOPIC ")
        assert got.startswith(f":{nick}!") and got.endswith(f"TOPIC #{room} :Launch on Friday")
        irc.send(f"TOPIC #{room}")
        assert (await irc.until(r" 332 ")).endswith(f"#{room} :Launch on Friday")
        assert f" 333 {nick} #{room} {nick} " in await irc.until(r" 333 ")
        irc.send(f"MODE #{room} +o {bob.user}")
        assert (await irc.until(r" MODE ")).endswith(f"MODE #{room} +o {bob.user}")
        roles = {m.user: m.room_role for m in await bob.who(room)}
        assert roles[bob.user] == "moderator"
        irc.send(f"NAMES #{room}")
        names = await irc.until(r" 353 ")
        assert f"@{bob.user}" in names.split(":")[-1].split()
        # a native member's topic change reaches IRC as TOPIC from that member
        await bob.set_topic(room, "moved to Monday")
        got = await irc.until(r" TOPIC ")
        assert got.startswith(f":{bob.user}!") and got.endswith(":moved to Monday")
        # +i makes the room private: the RoomChanged event comes back as MODE +i only
        irc.send(f"MODE #{room} +i")
        got = await irc.until(r" MODE #\S+ [+-]i")
        assert got.startswith(f":{nick}!") and got.endswith(f"MODE #{room} +i")
        assert (await next_event(bob, RoomChanged, room=room, private=True)).by == nick
        irc.send(f"MODE #{room}")
        assert (await irc.until(r" 324 ")).endswith(f"#{room} +int")
        irc.send(f"MODE #{room} +k key")
        assert " 472 " in await irc.until(r" 472 ")
        # INVITE into a private room; the invitee is told on its native session
        async with logged_in(srv) as carol:
            irc.send(f"INVITE {carol.user} #{room}")
            assert (await irc.until(r" 341 ")).endswith(f"{carol.user} #{room}")
            ev = await next_event(carol, Invited, room=room)
            assert ev.by == nick
        irc.send(f"INVITE nobody{unique()} #{room}")
        assert " 401 " in await irc.until(r" 401 ")
        # KICK #room nick is a room kick: bob leaves the room, the session goes on
        irc.send(f"KICK #{room} {bob.user} :enough")
        left = await next_event(bob, Left, room=room)
        assert (left.user, left.by, left.reason) == (bob.user, nick, "enough")
        got = await irc.until(r" KICK ")
        assert got.startswith(f":{nick}!") and got.endswith(f"KICK #{room} {bob.user} :enough")
        assert bob.connected and room not in {r.name for r in await bob.rooms() if r.joined}
        # bob invites the IRC user into a room of his, then puts it out of it
        await bob.join(secret, private=True)
        await bob.invite(secret, nick)
        got = await irc.until(r" INVITE ")
        assert got.startswith(f":{bob.user}!") and got.endswith(f"INVITE {nick} #{secret}")
        irc.send(f"JOIN #{secret}")
        await irc.until(rf"JOIN #{secret}")
        irc.send(f"KICK #{secret} {bob.user}")
        assert " 482 " in await irc.until(r" 482 ")  # an owner outranks a member
        await bob.room_kick(secret, nick, "bye now")
        got = await irc.until(r" KICK ")
        assert got.startswith(f":{bob.user}!") and got.endswith(f"KICK #{secret} {nick} :bye now")
    await irc.close()


async def test_a_member_may_not_set_the_topic_and_a_deleted_room_kicks(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("irc")
    room = unique("doomed")
    root = await staff(srv, "root", "admin")
    try:
        await root.join(room)
        irc = await IrcLines.open(srv)
        await irc.register(nick)
        irc.send(f"JOIN #{room}")
        await irc.until(rf"JOIN #{room}")
        irc.send(f"TOPIC #{room} :mine")
        got = await irc.until(r" 482 ")
        assert "moderators and owners" in got
        irc.send(f"MODE #{room} +o {nick}")
        assert " 482 " in await irc.until(r" 482 ")
        irc.send("TOPIC #no-such-room-here :x")
        assert " 403 " in await irc.until(r" 403 ")
        await root.delete_room(room, "cleanup")
        got = await irc.until(r" KICK ")
        assert got.endswith(f"KICK #{room} {nick} :room deleted: cleanup")
        await irc.close()
    finally:
        await root.close()


async def test_a_renamed_room_is_a_rename_or_a_part_and_join(server_factory) -> None:
    srv = irc_server(server_factory)
    old, new = unique("before"), unique("after")
    root = await staff(srv, "root", "admin")
    try:
        await root.join(old)
        renaming = await IrcLines.open(srv)
        await renaming.register(unique("irc"), caps="draft/channel-rename")
        plain = await IrcLines.open(srv)
        await plain.register(unique("irc"))
        for irc in (renaming, plain):
            irc.send(f"JOIN #{old}")
            await irc.until(rf"JOIN #{old}")
        await root.rename_room(old, new, "tidy")
        got = await renaming.until(r" RENAME ")
        assert got.endswith(f"RENAME #{old} #{new} :tidy") and got.startswith(":root!")
        got = await plain.until(r" PART ")
        assert got.endswith(f"PART #{old} :renamed to #{new}: tidy")
        await plain.until(rf"JOIN #{new}")
        await root.send(new, "under the new name")
        for irc in (renaming, plain):
            got = await irc.until(r"PRIVMSG")
            assert f"PRIVMSG #{new} :under the new name" in got
        renaming.send(f"PRIVMSG #{new} :from irc")
        assert (await next_event(root, Message, text="from irc")).room == new
        for irc in (renaming, plain):
            await irc.close()
    finally:
        await root.close()


async def test_playback_after_a_rename_shows_only_what_was_missed(server_factory) -> None:
    srv = irc_server(server_factory, irc_playback=5)
    old, new = unique("seen"), unique("renamed")
    root = await staff(srv, "root", "admin")
    nick = unique("irc")
    try:
        await root.join(old)
        irc = await IrcLines.open(srv)
        await irc.register(nick)
        irc.send(f"JOIN #{old}")
        await irc.until(rf"JOIN #{old}")
        await root.send(old, "seen before")
        await irc.until(r"PRIVMSG .*seen before")
        await irc.close()
        await asyncio.sleep(0.2)
        await root.rename_room(old, new)
        await root.send(new, "missed after")
        irc = await IrcLines.open(srv)
        await irc.register(nick)
        got = await irc.until(rf"PRIVMSG #{new} :")
        # What it saw under the old name is not played back again.
        assert got.endswith("missed after"), got
        await irc.close()
    finally:
        await root.close()
