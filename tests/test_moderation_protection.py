"""Automatic protection against a real server: floods, bad frames, failed logins, timeouts."""

from __future__ import annotations

import asyncio

import pytest

from helpers import RawConnection, client_for, logged_in, next_event, unique
from modhelpers import Recorder, audit_until, first_frame, staff
from roost.client import Bye, ConnectionLost, Message, Moderation, Notice, RoostError
from roost.protocol.frames import frame_header
from roost.protocol.messages import Error, KeepAlive, Ok, Ping, Pong, ServerHello

# Escalation in a few strikes, each refusal a strike of its own, so tests stay short.
FAST_ABUSE = {"abuse_interval": 0, "abuse_warn": 2, "abuse_mute": 4, "abuse_block": 6}


async def test_a_flood_is_blocked_automatically_while_others_keep_talking(server_factory) -> None:
    srv = server_factory(msg_rate=5, msg_burst=10, auto_block_duration=600, **FAST_ABUSE)
    boss = await staff(srv)
    watching = Recorder(boss)
    try:
        async with logged_in(srv) as calm:
            flooder = client_for(srv, unique("flooder"))
            await flooder.start()

            async def flood() -> list[object]:
                sends = [flooder.send("general", f"spam {i}") for i in range(200)]
                return await asyncio.gather(*sends, return_exceptions=True)

            async def talk() -> list[int]:
                seqs = []
                for i in range(5):
                    seqs.append((await calm.send("general", f"calm {i}")).seq)
                    await asyncio.sleep(0.05)
                return seqs

            results, calm_seqs = await asyncio.gather(flood(), talk())
            codes = [getattr(r, "code", "ok") for r in results]
            assert "rate_limited" in codes
            assert all(c in ("ok", "rate_limited", "muted", "disconnected") for c in codes)
            # the burst got through (some acknowledgements were cut off by the block)
            stored = [m async for m in calm.history("general") if m.text.startswith("spam")]
            assert 10 <= len(stored) < 30
            bye = await next_event(flooder, Bye)
            assert bye.code == "blocked" and "flood" in bye.reason
            # the calm client was never slowed down, and sees its own messages
            for i, seq in enumerate(calm_seqs):
                got = await next_event(calm, Message, text=f"calm {i}")
                assert got.seq == seq
            assert (await calm.send("general", "after the storm")).seq > calm_seqs[-1]
        await watching.wait(lambda e: isinstance(e, Moderation) and e.entry.action == "block")
        assert [a for a in watching.actions() if a[2] == flooder.user] == [
            ("(auto)", "warn", flooder.user),
            ("(auto)", "mute", flooder.user),
            ("(auto)", "block", flooder.user),
        ]
        log = await boss.audit(target=flooder.user or "")
        assert [e.action for e in log] == ["warn", "mute", "block"]
        assert all(e.actor == "(auto)" and e.reason.startswith("flood") for e in log)
        with pytest.raises(RoostError) as err:
            await client_for(srv, flooder.user or "", register=False, reconnect=False).start()
        assert err.value.code == "blocked" and "automatically" in err.value.message
    finally:
        await boss.close()


async def test_malformed_frames_count_as_abuse(server_factory) -> None:
    srv = server_factory(**FAST_ABUSE)
    boss = await staff(srv)
    try:
        raw = await RawConnection.open(srv)
        name = unique("junk")
        await raw.login(name)
        junk = b"\xc1\xc1"  # never valid MessagePack
        for _ in range(6):
            raw.send_raw(frame_header(len(junk)) + junk)
        seen = []
        while (msg := await raw.recv(5)) is not None:
            seen.append(msg)
        errors = [m for m in seen if isinstance(m, Error)]
        assert errors and all(e.code == "protocol" for e in errors)
        texts = [m.text for m in seen if isinstance(m, Notice)]
        assert any(t.startswith("warning: malformed frames") for t in texts), texts
        assert any("you are muted automatically" in t for t in texts), texts
        byes = [m for m in seen if isinstance(m, Bye)]
        assert byes and byes[-1].code == "blocked" and "malformed frames" in byes[-1].reason
        log = await audit_until(boss, 3, target=name)
        assert [e.action for e in log] == ["warn", "mute", "block"]
        assert all("malformed frames" in e.reason for e in log)
    finally:
        await boss.close()


async def test_bad_frames_before_login_lead_to_an_address_ban(server_factory) -> None:
    srv = server_factory(**FAST_ABUSE, auto_block_duration=600)
    boss = await staff(srv)
    try:
        for _ in range(6):
            # An oversized header: the server answers, closes, and counts a strike.
            raw = await RawConnection.open(srv)
            raw.send_raw(frame_header(10**7))
            assert await raw.closed()
        first = await first_frame(srv)
        assert isinstance(first, Bye) and first.code == "banned"
        assert "oversized frame" in first.reason
        [ban] = [s for s in await boss.blocks() if s.kind == "ban"]
        assert ban.target == "127.0.0.1" and ban.author == "(auto)" and ban.expires > 0
        log = [(e.action, e.target) for e in await audit_until(boss, 2)]
        assert log == [("warn", "127.0.0.1"), ("ban", "127.0.0.1")]
    finally:
        await boss.close()


async def test_a_silent_connection_is_dropped_after_the_handshake_timeout(server_factory) -> None:
    srv = server_factory(handshake_timeout=0.5)
    raw = await RawConnection.open(srv, hello=False)  # says nothing at all
    bye = await raw.recv_until(lambda m: isinstance(m, Bye))
    assert bye.code == "timeout" and "login" in bye.reason
    assert await raw.closed()
    raw = await RawConnection.open(srv)  # hello, but no login
    bye = await raw.recv_until(lambda m: isinstance(m, Bye))
    assert bye.code == "timeout"
    async with logged_in(srv) as fine:  # a client that logs in is not affected
        await asyncio.sleep(1.0)
        assert (await fine.send("general", "still here")).seq >= 1


async def test_idle_sessions_are_kept_alive_by_ping_and_dead_ones_dropped(server_factory) -> None:
    srv = server_factory(ping_interval=0.3, ping_timeout=0.6)
    async with logged_in(srv) as sdk:
        raw = await RawConnection.open(srv)
        await raw.login(unique("mute-peer"))
        ping = await raw.recv_until(lambda m: isinstance(m, KeepAlive))
        assert ping.ts > 0
        # the raw peer never answers: it is closed
        bye = await raw.recv_until(lambda m: isinstance(m, Bye))
        assert bye.code == "timeout" and "ping" in bye.reason
        # one that answers stays
        raw2 = await RawConnection.open(srv)
        await raw2.login(unique("polite"))
        for _ in range(3):
            ping = await raw2.recv_until(lambda m: isinstance(m, KeepAlive | Bye))
            assert isinstance(ping, KeepAlive)
            raw2.send(Pong(ts=ping.ts))
        raw2.send(Ping(id=77))
        assert isinstance(await raw2.recv_until(lambda m: getattr(m, "id", None) == 77), Ok)
        raw2.close()
        # the SDK answers by itself: idle for several intervals, still connected
        await asyncio.sleep(1.5)
        assert sdk.connected and sdk.bye is None
        assert (await sdk.send("general", "awake")).seq >= 1


async def test_failed_logins_lock_the_account_then_ban_the_address(server_factory) -> None:
    srv = server_factory(login_fail_account=3, login_fail_address=5, auto_block_duration=600)
    boss = await staff(srv)
    name = unique("target")
    try:
        async with logged_in(srv, name):
            pass
        for _ in range(3):
            wrong = client_for(srv, name, "guess", register=False, reconnect=False)
            with pytest.raises(RoostError) as err:
                await wrong.start()
            assert err.value.code == "auth_failed"
        right = client_for(srv, name, register=False, reconnect=False)
        with pytest.raises(RoostError) as err:
            await right.start()  # even the right password: locked for now
        assert err.value.code == "rate_limited" and f"for {name}" in err.value.message
        async with logged_in(srv) as other:  # other accounts log in as usual
            assert other.session is not None
        for _ in range(2):  # failures 4 and 5 from this address
            ghost = client_for(srv, unique("ghost"), "x", register=False, reconnect=False)
            with pytest.raises((RoostError, ConnectionLost)):
                await ghost.start()
        first = await first_frame(srv)
        assert isinstance(first, Bye) and first.code == "banned" and "failed logins" in first.reason
        log = [(e.actor, e.action, e.target) for e in await audit_until(boss, 2)]
        assert log == [("(auto)", "lock", name), ("(auto)", "ban", "127.0.0.1")]
    finally:
        await boss.close()


async def test_connections_per_address_are_limited(server_factory) -> None:
    srv = server_factory(max_connections_per_address=3)
    conns = [await RawConnection.open(srv) for _ in range(3)]
    refused = await first_frame(srv)
    assert isinstance(refused, Bye) and refused.code == "rate_limited"
    assert "too many connections" in refused.reason
    conns.pop().close()
    for _ in range(50):  # once the server has seen the close, there is room again
        if isinstance(await first_frame(srv), ServerHello):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no room after a connection closed")
    for c in conns:
        c.close()
