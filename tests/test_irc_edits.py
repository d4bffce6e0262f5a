"""Edits, deletions, reactions and replies through the IRC gateway, with and without
the IRCv3 tags for them (message-tags, draft/message-redaction), against a real server."""

from __future__ import annotations

from helpers import logged_in, message_of, unique
from irc_helpers import IrcLines, irc_server


async def test_events_reach_tagged_and_plain_irc_clients(server_factory) -> None:
    srv = irc_server(server_factory)
    room = unique("r")
    tagged, plain = await IrcLines.open(srv), await IrcLines.open(srv)
    t_nick, p_nick = unique("tag"), unique("plain")
    await tagged.register(t_nick, caps="message-tags draft/message-redaction")
    await plain.register(p_nick)
    for irc in (tagged, plain):
        irc.send(f"JOIN #{room}")
        await irc.until(rf" 366 \S+ #{room} ")
    async with logged_in(srv) as bob:
        await bob.follow(room)
        first = await bob.send(room, "helo")
        ref = f"{room}/{first.seq}"
        await bob.edit(room, first.seq, "hello")
        got = await tagged.until(r"PRIVMSG #\S+ :\(edited\) hello")
        assert f"roost/edit={ref}" in got.split(" ", 1)[0]
        assert (await plain.until(r"PRIVMSG #\S+ :\(edited")).endswith(f"#{room} :(edited) hello")
        await bob.react(room, first.seq, ":tada:")
        got = await tagged.until(r" TAGMSG ")
        assert "+draft/react=\U0001f389" in got and f"+draft/reply={ref}" in got
        assert (await plain.until(r" NOTICE #")).endswith(":(reacted \U0001f389)")
        reply = await bob.send(room, "see above", reply_to=first.seq)
        got = await tagged.until(r"PRIVMSG #\S+ :see above")
        assert f"+draft/reply={ref}" in got
        await bob.delete(room, first.seq)
        got = await tagged.until(r" REDACT ")
        assert got.endswith(f"REDACT #{room} {ref}")
        assert (await plain.until(r" NOTICE #")).endswith(":(deleted a message)")

        # From IRC: a reaction, a reply and a redaction of one's own message.
        target = f"{room}/{reply.seq}"
        tagged.send(f"@+draft/react=\U0001f44d;+draft/reply={target} TAGMSG #{room}")
        ev = await message_of(bob, "react", t_nick)
        assert (ev.ref, ev.text) == (reply.seq, "\U0001f44d")
        tagged.send(f"@+draft/unreact=\U0001f44d;+draft/reply={target} TAGMSG #{room}")
        ev = await message_of(bob, "unreact", t_nick)
        assert ev.ref == reply.seq
        tagged.send(f"@+draft/reply={target} PRIVMSG #{room} :agreed")
        ev = await message_of(bob, "text", t_nick)
        assert (ev.text, ev.reply_to) == ("agreed", reply.seq)
        tagged.send(f"REDACT #{room} {room}/{ev.seq} :typo")
        gone = await message_of(bob, "delete", t_nick)
        assert gone.ref == ev.seq
        # not one's own: refused with FAIL, nothing happens
        tagged.send(f"REDACT #{room} {target}")
        assert "REDACT REDACT_FORBIDDEN" in await tagged.until(r"^:\S+ FAIL REDACT ")
        # a msgid of another conversation is no message of this one
        tagged.send(f"REDACT #{room} general/1")
        assert "UNKNOWN_MSGID" in await tagged.until(r"^:\S+ FAIL REDACT ")
        # a reply tag naming another room is ignored: a plain message
        tagged.send(f"@+draft/reply=general/1 PRIVMSG #{room} :plain one")
        ev = await message_of(bob, "text", t_nick)
        assert (ev.text, ev.reply_to) == ("plain one", 0)
    for irc in (tagged, plain):
        await irc.close()
