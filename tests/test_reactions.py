"""Reactions against a real server: counted per message, limited, taken back, replayed."""

from __future__ import annotations

import pytest

from helpers import logged_in, unique
from modhelpers import staff
from roost.client import Message, RoostError
from roost.client.edits import MessageBook, emoji_of

THUMBS = "\U0001f44d"
TADA = "\U0001f389"


async def book_of(client, room: str) -> MessageBook:
    book = MessageBook()
    async for m in client.history(room):
        book.add(m)
    return book


def test_common_shortcodes_become_emoji() -> None:
    assert emoji_of(":+1:") == THUMBS
    assert emoji_of(" :TADA: ") == TADA
    assert emoji_of(":no-such-code:") == ":no-such-code:"  # sent as typed


async def test_reactions_are_counted_per_message_and_taken_back(any_server) -> None:
    room = unique("r")
    async with logged_in(any_server) as ann, logged_in(any_server) as bob:
        await ann.join(room)
        await bob.join(room)
        sent = await ann.send(room, "release is out")
        other = await ann.send(room, "another")
        await ann.react(room, sent.seq, ":+1:")
        await bob.react(room, sent.seq, THUMBS)
        await bob.react(room, sent.seq, ":tada:")
        await bob.react(room, other.seq, ":eyes:")
        book = await book_of(ann, room)
        shown = book.get(room, sent.seq)
        assert shown is not None and shown.counts() == [(THUMBS, 2), (TADA, 1)]
        assert shown.reactions_text() == f"{THUMBS} 2  {TADA} 1"
        with pytest.raises(RoostError) as err:
            await bob.react(room, sent.seq, ":+1:")
        assert err.value.code == "bad_request" and "already" in err.value.message
        res = await bob.unreact(room, sent.seq, ":+1:")
        assert res.seq > sent.seq
        with pytest.raises(RoostError) as err:
            await bob.unreact(room, sent.seq, ":+1:")
        assert err.value.code == "bad_request"
        await bob.react(room, sent.seq, ":+1:")  # may react again after taking it back
        await bob.unreact(room, sent.seq, ":+1:")
        msgs = [m async for m in ann.history(room)]
        kinds = [(m.kind, m.ref, m.sender) for m in msgs if m.kind != "text"]
        assert kinds[0] == ("react", sent.seq, ann.user)
        assert [k for k, _, _ in kinds].count("unreact") == 2
        book = await book_of(ann, room)
        shown = book.get(room, sent.seq)
        assert shown is not None and shown.counts() == [(THUMBS, 1), (TADA, 1)]
        assert book.get(room, other.seq).counts() == [("\U0001f440", 1)]  # type: ignore[union-attr]


async def test_reaction_limits_and_bad_targets(server_factory) -> None:
    srv = server_factory(max_reactions=2)
    room = unique("r")
    async with logged_in(srv) as ann, logged_in(srv) as bob, logged_in(srv) as eve:
        assert ann.limits is not None and ann.limits.max_reactions == 2
        await ann.join(room)
        await bob.join(room)
        sent = await ann.send(room, "vote")
        await ann.react(room, sent.seq, "a")
        await bob.react(room, sent.seq, "b")
        with pytest.raises(RoostError) as err:
            await bob.react(room, sent.seq, "c")
        assert err.value.code == "too_many_reactions"
        await bob.react(room, sent.seq, "a")  # an existing reaction may still grow
        for bad in ("", "two words", "x" * 33, "tab\there"):
            with pytest.raises(RoostError) as err:
                await ann.react(room, sent.seq, bad)
            assert err.value.code == "bad_request", bad
        with pytest.raises(RoostError) as err:
            await ann.react(room, sent.seq + 99, "a")
        assert err.value.code == "no_such_message"
        event = await ann.react(room, sent.seq, "b")
        with pytest.raises(RoostError) as err:  # a reaction is not a message to react to
            await ann.react(room, event.seq, "a")
        assert err.value.code == "not_editable"
        with pytest.raises(RoostError) as err:
            await eve.react(room, sent.seq, "a")
        assert err.value.code == "not_a_member"
        await ann.delete(room, sent.seq)
        with pytest.raises(RoostError) as err:
            await bob.react(room, sent.seq, "b")
        assert err.value.code == "no_such_message"


async def test_a_muted_user_cannot_react(server) -> None:
    room = unique("r")
    boss = await staff(server, "mod2", "moderator")
    try:
        async with logged_in(server) as ann, logged_in(server) as bob:
            await ann.join(room)
            await bob.join(room)
            sent = await ann.send(room, "hello")
            await boss.mute(bob.user, 60, "calm down")
            with pytest.raises(RoostError) as err:
                await bob.react(room, sent.seq, ":+1:")
            assert err.value.code == "muted"
            with pytest.raises(RoostError) as err:
                await bob.send(room, "me too", reply_to=sent.seq)
            assert err.value.code == "muted"
    finally:
        await boss.close()


async def test_reactions_survive_a_restart(server) -> None:
    room = unique("r")
    async with logged_in(server, "keeper") as ann:
        await ann.join(room)
        sent = await ann.send(room, "keep me")
        await ann.react(room, sent.seq, ":heart:")
        await ann.edit(room, sent.seq, "kept")
    server.restart()
    async with logged_in(server, "keeper") as ann:
        book = await book_of(ann, room)
        shown = book.get(room, sent.seq)
        assert shown is not None
        assert shown.label() == "kept (edited)"
        assert shown.counts() == [("\u2764\ufe0f", 1)]
        assert isinstance(shown.message, Message)
