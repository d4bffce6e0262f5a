"""Edits, deletions, reactions, replies and room commands in the full-screen client,
driven by its pilot against a real server, with a second user on the SDK."""

from __future__ import annotations

import io

from rich.console import Console

from helpers import logged_in, message_of, next_event, unique
from modhelpers import add_account, staff
from roost.client import Message, RoomChanged
from roost.tui.screens.chat import ChatScreen
from roost.tui.widgets.messages import MessageLine
from test_tui import SIZE, chat_app, chat_screen, infos, type_line
from tui_helpers import wait_until


def lines(screen: ChatScreen, key: str | None = None) -> dict[int, str]:
    """Each message line of a conversation's view as plain text, by seq."""
    view = screen.views[key or screen.current or ""]
    out = {}
    for line in view.query(MessageLine):
        console = Console(width=SIZE[0], file=io.StringIO(), record=True, color_system=None)
        console.print(line.content)
        out[line.message.seq] = " ".join(console.export_text().split())
    return out


def shown(screen: ChatScreen, part: str) -> bool:
    return any(part in t for t in infos(screen))


async def test_edits_reactions_replies_and_deletions_fold_into_the_message(
    server, tmp_path
) -> None:
    room = unique("r")
    me = unique("ann")
    async with logged_in(server) as bob:
        await bob.follow(room)
        app = chat_app(server, tmp_path, me, room=room)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await wait_until(pilot, lambda: screen.current == room)
            first = await bob.send(room, "helo wrold")
            await wait_until(pilot, lambda: "helo wrold" in lines(screen).get(first.seq, ""))
            await bob.edit(room, first.seq, "hello world")
            await wait_until(
                pilot, lambda: "hello world (edited)" in lines(screen).get(first.seq, "")
            )
            # /react -1: the latest message on screen, the shortcode made an emoji
            await type_line(pilot, "/react -1 :+1:")
            ev = await message_of(bob, "react", me)
            assert (ev.ref, ev.text, ev.sender) == (first.seq, "\U0001f44d", me)
            await wait_until(pilot, lambda: "\U0001f44d 1" in lines(screen)[first.seq])
            await bob.react(room, first.seq, ":+1:")
            await wait_until(pilot, lambda: "\U0001f44d 2" in lines(screen)[first.seq])
            # a reply quotes what it answers; the seq is the message's own
            await type_line(pilot, f"/reply {first.seq} sure thing")
            reply = await message_of(bob, "text", me)
            assert (reply.reply_to, reply.text) == (first.seq, "sure thing")
            await wait_until(pilot, lambda: reply.seq in lines(screen))
            assert "\u21aa " + bob.user + ": hello world" in lines(screen)[reply.seq]
            # an edit of the quoted message shows in the quote too
            await bob.edit(room, first.seq, "hello, world")
            await wait_until(
                pilot, lambda: "\u21aa " + bob.user + ": hello, world" in lines(screen)[reply.seq]
            )
            # one's own: /edit last is the reply, not bob's message
            await type_line(pilot, "/edit last sure, thing")
            await wait_until(pilot, lambda: "sure, thing (edited)" in lines(screen)[reply.seq])
            assert shown(screen, f"edited #{reply.seq}")
            # someone else's message may not be edited: the server says why, nothing changes
            await type_line(pilot, f"/edit {first.seq} mine now")
            await wait_until(pilot, lambda: shown(screen, "only its author"))
            assert "mine now" not in lines(screen)[first.seq]
            await type_line(pilot, "/react")
            await wait_until(pilot, lambda: shown(screen, "usage: /react SEQ EMOJI"))
            await type_line(pilot, "/react -9 :x:")
            await wait_until(pilot, lambda: shown(screen, "names no message"))
            await bob.delete(room, first.seq)
            await wait_until(pilot, lambda: "(deleted)" in lines(screen)[first.seq])
            assert "hello world" not in lines(screen)[first.seq]
            # events are no lines of their own, and no unread either
            assert sorted(lines(screen)) == [first.seq, reply.seq]
            assert screen.session.model.conversations[room].unread == 0

        # Later, from history: the same state, folded from the stored events.
        app = chat_app(server, tmp_path, me, room=room, register=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await wait_until(pilot, lambda: reply.seq in lines(screen))
            assert sorted(lines(screen)) == [first.seq, reply.seq]
            assert "(deleted)" in lines(screen)[first.seq]
            assert "sure, thing (edited)" in lines(screen)[reply.seq]


async def test_a_moderator_removes_a_message_with_a_reason(server, tmp_path) -> None:
    add_account(server, "root", "admin")
    room = unique("r")
    async with logged_in(server) as bob:
        await bob.follow(room)
        sent = await bob.send(room, "buy cheap pills")
        app = chat_app(server, tmp_path, "root", register=False, room=room)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await wait_until(pilot, lambda: sent.seq in lines(screen))
            await type_line(pilot, f"/delete {sent.seq} spam")
            ev = await message_of(bob, "remove", "root")
            assert (ev.ref, ev.text) == (sent.seq, "spam")
            await wait_until(
                pilot, lambda: "(removed by a moderator: spam)" in lines(screen)[sent.seq]
            )


async def test_room_commands_and_events(server, tmp_path) -> None:
    room, other = unique("plans"), unique("side")
    me = unique("ann")
    async with logged_in(server) as bob:
        await bob.join(room)  # bob owns it
        app = chat_app(server, tmp_path, me, room=room)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await wait_until(pilot, lambda: screen.current == room)
            await type_line(pilot, "/topic Launch on Friday")
            await wait_until(pilot, lambda: shown(screen, "only its moderators and owners"))
            await bob.set_room_role(room, me, "moderator")
            await type_line(pilot, "/topic Launch on Friday")
            ev = await next_event(bob, RoomChanged, room=room)
            assert (ev.topic, ev.by) == ("Launch on Friday", me)
            await wait_until(pilot, lambda: shown(screen, "topic: Launch on Friday (set by"))
            await type_line(pilot, "/topic")
            await wait_until(pilot, lambda: shown(screen, f"#{room}: Launch on Friday"))
            await type_line(pilot, "/private")
            await wait_until(pilot, lambda: shown(screen, "only its owners"))
            await type_line(pilot, f"/roomkick {bob.user} go away")
            await wait_until(pilot, lambda: shown(screen, "is not below yours"))
            assert bob.user in {m.user for m in await bob.who(room)}
            # bob invites ann into another room, then puts her out of this one
            await bob.join(other, private=True)
            await bob.invite(other, me)
            await wait_until(pilot, lambda: shown(screen, f"invites you into #{other}"))
            await bob.room_kick(room, me, "enough")
            await wait_until(pilot, lambda: room not in screen.session.model.conversations)
            await wait_until(pilot, lambda: shown(screen, f"put you out of #{room}: enough"))
            await type_line(pilot, f"/join {other}")
            await wait_until(pilot, lambda: screen.current == other)


async def test_a_deleted_room_leaves_the_list(server, tmp_path) -> None:
    room = unique("doomed")
    me = unique("ann")
    root = await staff(server, "root", "admin")
    try:
        await root.join(room)
        app = chat_app(server, tmp_path, me, room=room)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await wait_until(pilot, lambda: screen.current == room)
            await type_line(pilot, f"/deleteroom {room}")
            await wait_until(pilot, lambda: shown(screen, "only admins"))
            await root.delete_room(room, "cleanup")
            await wait_until(pilot, lambda: room not in screen.session.model.conversations)
            await wait_until(pilot, lambda: shown(screen, f"#{room} was deleted by root: cleanup"))
            assert screen.current != room
    finally:
        await root.close()


async def test_a_renamed_room_moves_in_the_list_with_its_messages(server, tmp_path) -> None:
    old, new = unique("draft"), unique("final")
    me = unique("ann")
    root = await staff(server, "root", "admin")
    try:
        await root.join(old)
        await root.send(old, "written before the rename")
        app = chat_app(server, tmp_path, me, room=old)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await wait_until(pilot, lambda: screen.current == old)
            model = screen.session.model
            await wait_until(pilot, lambda: model.conversations[old].messages)
            await type_line(pilot, f"/renameroom {new}")
            await wait_until(pilot, lambda: shown(screen, "only admins"))
            await root.rename_room(old, new, "done")
            await wait_until(pilot, lambda: screen.current == new)
            assert old not in model.conversations
            assert [m.room for m in model.conversations[new].messages.values()] == [new]
            await wait_until(pilot, lambda: shown(screen, f"#{old} is now #{new} (renamed by root"))
            await type_line(pilot, "said under the new name")
            got = await next_event(root, Message, text="said under the new name")
            assert (got.room, got.seq) == (new, 2)
    finally:
        await root.close()
