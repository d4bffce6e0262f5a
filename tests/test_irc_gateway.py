"""The IRC gateway against a real server: raw IRC lines next to native SDK clients."""

from __future__ import annotations

import asyncio

from helpers import logged_in, next_event, unique
from irc_helpers import IrcLines, irc_server
from roost.client import Message


async def test_irc_and_native_clients_talk_in_a_room_and_a_dm(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("irc")
    irc = await IrcLines.open(srv)
    await irc.register(nick)  # PASS registers a new account (registration is open)
    await irc.until(r"JOIN #general")
    await irc.until(r" 366 ")
    async with logged_in(srv) as native:
        sent = await native.send("general", "hello from native")
        got = await irc.until(r"PRIVMSG #general :hello from native")
        assert got.startswith(f":{native.user}!{native.user}@")
        irc.send("PRIVMSG #general :hello from irc")
        ev = await next_event(native, Message, text="hello from irc")
        assert ev.sender == nick and ev.room == "general" and ev.seq == sent.seq + 1
        # DMs both ways
        await native.send("@" + nick, "psst irc")
        got = await irc.until(r"PRIVMSG " + nick + " :psst irc")
        assert got.startswith(f":{native.user}!")
        irc.send(f"PRIVMSG {native.user} :psst native")
        ev = await next_event(native, Message, text="psst native")
        assert ev.sender == nick and ev.room.startswith("@")
    await irc.close()


async def test_sasl_login_and_wrong_password(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("sasl")
    async with logged_in(srv, nick):
        pass
    irc = await IrcLines.open(srv)
    await irc.register(nick, sasl=True, caps="server-time")
    await irc.until(r"JOIN #general")
    await irc.close()
    bad = await IrcLines.open(srv)
    bad.send("CAP LS 302", f"NICK {nick}", "USER x 0 * :x", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
    await bad.until(r"^AUTHENTICATE \+")
    bad.send("AUTHENTICATE " + __import__("base64").b64encode(f"\0{nick}\0nope".encode()).decode())
    assert " 904 " in await bad.until(r" 90[34] ")
    await bad.close()


async def test_unknown_command_and_registration_required(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    irc.send("JOIN #general")
    assert " 451 " in await irc.until(r" 451 ")
    await irc.register(unique("u"))
    irc.send("FROBNICATE now")
    assert "421" in await irc.until(r" 421 \S+ FROBNICATE ")
    irc.send("PING :abc")
    assert (await irc.until(r"PONG")).endswith("abc")
    await irc.close()


async def test_echo_message_and_tags(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    nick = unique("tags")
    await irc.register(nick, caps="server-time message-tags echo-message account-tag")
    await irc.until(r" 366 ")
    irc.send("PRIVMSG #general :echo me")
    got = await irc.until(r"PRIVMSG #general :echo me")
    assert got.startswith("@") and "msgid=general/" in got and f"account={nick}" in got
    assert "time=20" in got
    await irc.close()
    await asyncio.sleep(0)
