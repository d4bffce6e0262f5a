"""The IRC gateway against a real server: raw IRC lines next to native SDK clients."""

from __future__ import annotations

import asyncio

import pytest

from helpers import PASSWORD, logged_in, next_event, unique
from irc_helpers import IrcLines, irc_server
from modhelpers import add_account, staff
from roost.client import Bye, Left, Message, RoostError


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


async def test_block_ends_the_irc_session_with_kill_and_error(server_factory) -> None:
    srv = irc_server(server_factory)
    boss = await staff(srv, "boss")
    irc = await IrcLines.open(srv)
    nick = unique("mal")
    await irc.register(nick)
    await boss.block(nick, 7200, "spam")
    rest = await irc.closed()
    kill = [x for x in rest if " KILL " in x]
    error = [x for x in rest if x.startswith("ERROR ")]
    assert kill and "blocked" in kill[0]
    assert error and "blocked" in error[0]
    # and it cannot come back
    again = await IrcLines.open(srv)
    again.send("PASS :" + PASSWORD, f"NICK {nick}", f"USER {nick} 0 * :x")
    assert " 465 " in await again.until(r" 465 ")
    await again.closed()
    await boss.close()


async def test_moderator_kicks_and_blocks_from_irc(server_factory) -> None:
    srv = irc_server(server_factory)
    add_account(srv, "mod", "moderator")
    irc = await IrcLines.open(srv)
    await irc.register("mod")
    async with logged_in(srv) as victim:
        irc.send(f"KILL {victim.user} :calm down")  # KICK #room is a room kick
        bye = await next_event(victim, Bye)
        assert bye.code == "kicked" and "calm down" in bye.reason
        assert "kick " + victim.user in await irc.until(r"RoostServ.* NOTICE mod :kick ")
    async with logged_in(srv) as victim:
        irc.send(f"PRIVMSG RoostServ :block {victim.user} 2h spam")
        bye = await next_event(victim, Bye)
        assert bye.code == "blocked" and "2" in bye.reason
        await irc.until(r"NOTICE mod :block " + victim.user)
    async with logged_in(srv) as victim:
        irc.send(f"MUTE {victim.user} 10m shouting")  # /QUOTE MUTE ...
        await irc.until(r"NOTICE mod :mute " + victim.user)
        with pytest.raises(RoostError) as err:
            await victim.send("general", "still here")
        assert err.value.code == "muted"
    await irc.close()


async def test_member_cannot_use_admin_commands(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    await irc.register(unique("m"))
    irc.send("PRIVMSG RoostServ :block somebody 1h")
    assert "only moderators" in await irc.until(r"RoostServ.* NOTICE ")
    await irc.close()


async def test_muted_irc_user_is_refused_like_a_native_one(server_factory) -> None:
    srv = irc_server(server_factory)
    boss = await staff(srv, "boss")
    irc = await IrcLines.open(srv)
    nick = unique("quiet")
    await irc.register(nick)
    await boss.mute(nick, 600, "")
    irc.send("PRIVMSG #general :can you hear me")
    assert "muted" in await irc.until(r" 404 \S+ #general ")
    await irc.close()
    await boss.close()


async def test_rate_limit_applies_to_irc(server_factory) -> None:
    srv = irc_server(server_factory, msg_rate=1.0, msg_burst=3)
    irc = await IrcLines.open(srv)
    await irc.register(unique("fast"))
    for i in range(6):
        irc.send(f"PRIVMSG #general :flood {i}")
    got = await irc.until(r" 404 \S+ #general ")
    assert "slow down" in got or "rate" in got or "too many" in got
    await irc.close()


async def test_playback_of_missed_messages_on_join(server_factory) -> None:
    srv = irc_server(server_factory, irc_playback=3)
    nick = unique("back")
    irc = await IrcLines.open(srv)
    await irc.register(nick)
    await irc.until(r" 366 ")
    await irc.close()
    await asyncio.sleep(0.2)
    async with logged_in(srv) as native:
        for i in range(5):
            await native.send("general", f"missed {i}")
    irc = await IrcLines.open(srv)
    await irc.register(nick)
    got = [await irc.until(r"PRIVMSG #general :missed") for _ in range(3)]
    assert [g.rsplit(":", 1)[1] for g in got] == ["missed 2", "missed 3", "missed 4"]
    await irc.close()


async def test_chathistory_latest_and_before(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    nick = unique("hist")
    await irc.register(nick, caps="batch draft/chathistory server-time message-tags")
    await irc.until(r" 366 ")
    async with logged_in(srv) as native:
        sent = [await native.send("general", f"old {i}") for i in range(4)]
    irc.send("CHATHISTORY LATEST #general * 2")
    await irc.until(r"BATCH \+\S+ chathistory #general")
    a = await irc.until(r"PRIVMSG #general")
    b = await irc.until(r"PRIVMSG #general")
    assert a.endswith("old 2") and b.endswith("old 3")
    await irc.until(r"BATCH -")
    irc.send(f"CHATHISTORY BEFORE #general msgid=general/{sent[2].seq} 1")
    got = await irc.until(r"PRIVMSG #general")
    assert got.endswith("old 1") and f"msgid=general/{sent[1].seq}" in got
    irc.send(
        f"CHATHISTORY BETWEEN #general msgid=general/{sent[0].seq} msgid=general/{sent[3].seq} 10"
    )
    await irc.until(r"BATCH \+")
    between = [await irc.until(r"PRIVMSG #general") for _ in range(2)]
    assert [x.rsplit(":", 1)[1] for x in between] == ["old 1", "old 2"]
    await irc.close()


async def test_bad_input_gets_numerics_and_the_session_goes_on(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    await irc.register(unique("bad"))
    irc.send("PRIVMSG #general :" + "x" * 600)
    assert " 417 " in await irc.until(r" 417 ")
    irc.send_raw(b"PRIVMSG #general :\xff\xfe broken\r\n")
    assert "UTF-8" in await irc.until(r"FAIL ")
    irc.send("@" + "a=b;" * 3000 + " PING :x")  # tags over 8191 bytes
    await irc.until(r" 417 ")
    irc.send("PING :still-alive")
    assert (await irc.until(r"PONG")).endswith("still-alive")
    await irc.close()


async def test_irc_over_tls_with_the_servers_certificate(server_factory) -> None:
    import ssl

    from irc_helpers import free_port

    port = free_port()
    srv = server_factory(irc_tls_port=port)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed on first start, as for native clients
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    irc = IrcLines(reader, writer)
    await irc.register(unique("tls"))
    cert = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    # the same certificate the native listener would use (made on first start)
    pem = (srv.data_dir / "tls" / "cert.pem").read_text()
    assert cert == ssl.PEM_cert_to_DER_cert(pem)
    await irc.close()


async def test_labeled_echo_and_ack(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    await irc.register(unique("lab"), caps="labeled-response echo-message message-tags batch")
    await irc.until(r" 366 ")
    irc.send("@label=e1 PRIVMSG #general :labelled")
    echo = await irc.until(r"PRIVMSG #general :labelled")
    assert echo.startswith("@") and "label=e1" in echo
    irc.send("@label=p1 PING :x")
    assert "label=p1" in await irc.until(r"PONG")
    irc.send("@label=n1 NAMES #general")
    head = await irc.until(r"BATCH \+\S+ labeled-response")
    assert "label=n1" in head
    await irc.until(r"BATCH -")
    await irc.close()


async def test_join_part_and_native_presence(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("jp")
    irc = await IrcLines.open(srv)
    await irc.register(nick, caps="away-notify")
    await irc.until(r" 366 ")
    async with logged_in(srv) as native:
        irc.send("JOIN #newroom")
        await irc.until(rf":{nick}!\S+ JOIN #newroom")
        await irc.until(r" 366 \S+ #newroom ", timeout=3)
        await native.join("newroom")
        assert native.user in await irc.until(r"JOIN #newroom")
        irc.send("PRIVMSG #newroom :in the new room")
        ev = await next_event(native, Message, text="in the new room")
        assert ev.room == "newroom"
        irc.send("WHO #newroom")
        who = [await irc.until(r" 352 ") for _ in range(2)]
        assert {w.split()[7] for w in who} == {nick, native.user}
        irc.send("PART #newroom")
        await irc.until(rf":{nick}!\S+ PART #newroom")
        await next_event(native, Left, room="newroom", user=nick)
    # the native client went away: away-notify says so
    assert "AWAY :offline" in await irc.until(r" AWAY :offline")
    await irc.close()


async def test_registration_with_approval_waits_for_a_moderator(server_factory) -> None:
    srv = irc_server(server_factory, registration="approve")
    boss = await staff(srv, "boss")
    nick = unique("new")
    irc = await IrcLines.open(srv)
    irc.send("PASS :" + PASSWORD, f"NICK {nick}", f"USER {nick} 0 * :x")
    assert "waits for a moderator" in await irc.until(r"NOTICE")
    await boss.admit(nick)
    await irc.until(r" 001 ")
    await irc.until(r"JOIN #general")
    await irc.close()
    await boss.close()


async def test_reloaded_registration_setting_applies_to_irc(server_factory) -> None:
    import signal

    srv = irc_server(server_factory)
    cfg = srv.data_dir.parent / f"{srv.data_dir.name}.toml"
    cfg.write_text(cfg.read_text() + 'registration = "closed"\n')
    srv.proc.send_signal(signal.SIGHUP)
    deadline = asyncio.get_running_loop().time() + 5
    while "reloaded the configuration" not in srv.log():
        assert asyncio.get_running_loop().time() < deadline, srv.log()[-2000:]
        await asyncio.sleep(0.05)
    irc = await IrcLines.open(srv)
    irc.send("PASS :" + PASSWORD, f"NICK {unique('late')}", "USER x 0 * :x")
    assert " 464 " in await irc.until(r" 464 ")
    await irc.closed()


async def test_chathistory_targets_lists_conversations_by_time(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("tg")
    irc = await IrcLines.open(srv)
    await irc.register(nick, caps="batch draft/chathistory server-time")
    await irc.until(r" 366 ")
    async with logged_in(srv) as native:
        await native.send("general", "in the room")
        await native.send("@" + nick, "in private")
        await irc.until(r"PRIVMSG " + nick + " :in private")
        irc.send(
            "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10"
        )
        await irc.until(r"BATCH \+\S+ draft/chathistory-targets")
        targets = [await irc.until(r"CHATHISTORY TARGETS") for _ in range(2)]
        names = [t.split()[-2] for t in targets]
        assert names == ["#general", native.user]  # oldest latest message first
        assert all(t.split()[-1].startswith("20") for t in targets)
        irc.send(f"ISON {native.user} nobody-here")
        assert (await irc.until(r" 303 ")).split()[-1].lstrip(":") == native.user
    await irc.close()


async def test_ban_ends_irc_connections_from_the_address(server_factory) -> None:
    srv = irc_server(server_factory)
    boss = await staff(srv, "boss")
    irc = await IrcLines.open(srv)
    await irc.register(unique("ban"))
    await boss.ban_address("127.0.0.1", 60, "bad neighbourhood")
    rest = await irc.closed()
    assert any("banned" in x for x in rest if x.startswith("ERROR"))
    await boss.close()


async def test_a_flood_of_lines_is_answered_in_order_and_the_server_lives(server_factory) -> None:
    srv = irc_server(server_factory)
    irc = await IrcLines.open(srv)
    await irc.register(unique("fl"))
    irc.send_raw(b"".join(b"PING :n%d\r\n" % i for i in range(5000)))
    for i in range(5000):
        got = await irc.until(r"PONG")
        assert got.endswith(f"n{i}")
    async with logged_in(srv) as native:  # the server still serves everyone
        await native.send("general", "after the flood")
        await irc.until(r"PRIVMSG #general :after the flood")
    await irc.close()
