"""Away and typing through the IRC gateway: the server's own state, seen by native
clients and IRC clients alike (docs/irc.md), against a real server."""

from __future__ import annotations

from helpers import logged_in, next_event, unique
from irc_helpers import IrcLines, irc_server
from roost.client import Presence
from roost.protocol.messages import TypingEvent


async def test_away_is_the_servers_both_ways(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("irc")
    irc = await IrcLines.open(srv)
    await irc.register(nick, caps="away-notify")
    await irc.until(r" 366 ")
    async with logged_in(srv) as native:
        await native.follow("general")
        irc.send("AWAY :at lunch")
        await irc.until(r" 306 ")
        ev = await next_event(native, Presence, user=nick, away=True)
        assert ev.reason == "at lunch"
        assert any(
            m.away and m.reason == "at lunch" for m in await native.who("general") if m.user == nick
        )
        irc.send("AWAY")
        await irc.until(r" 305 ")
        assert not (await next_event(native, Presence, user=nick)).away
        # a native client's away reaches IRC: away-notify, WHOIS 301, WHO flag G
        await native.set_away("in a meeting")
        got = await irc.until(rf"^:{native.user}!\S+ AWAY ")
        assert got.endswith("AWAY :in a meeting")
        irc.send(f"WHOIS {native.user}")
        assert (await irc.until(r" 301 ")).endswith(":in a meeting")
        irc.send("WHO #general")
        rows = [await irc.until(r" 352 ") for _ in range(2)]
        flags = {r.split()[7]: r.split()[8] for r in rows}
        assert flags[native.user].startswith("G") and flags[nick].startswith("H")
        await native.back()
        assert (await irc.until(rf"^:{native.user}!\S+ AWAY")).endswith(" AWAY")
        irc.send("AWAY :" + "x" * 300)  # over max_away_reason (200): refused, still here
        assert "exceeds the limit of 200" in await irc.until(r" 400 ")
    await irc.close()


async def test_typing_both_ways_for_clients_with_message_tags(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("irc")
    irc = await IrcLines.open(srv)
    await irc.register(nick, caps="message-tags")
    await irc.until(r" 366 ")
    async with logged_in(srv) as native:
        await native.follow("general")
        irc.send("@+typing=active TAGMSG #general")
        ev = await next_event(native, TypingEvent, user=nick)
        assert ev.room == "general"
        await native.typing("general")
        got = await irc.until(r" TAGMSG #general")
        assert got.startswith("@+typing=active ") and f":{native.user}!" in got
        await native.typing("@" + nick)
        got = await irc.until(rf" TAGMSG {nick}")
        assert got.startswith("@+typing=active ")
    await irc.close()
