"""Malformed, oversized and hostile input against a real server."""

from __future__ import annotations

import asyncio
import os

import msgspec

from helpers import PASSWORD, RawConnection, logged_in, next_event, unique
from roost.protocol.codec import encode
from roost.protocol.frames import frame_header
from roost.protocol.messages import Bye, ClientHello, Error, Message, Ok, Send


async def test_frame_over_limit_is_refused_from_its_header(server) -> None:
    async with logged_in(server) as witness:
        raw = await RawConnection.open(server)
        limit = raw.server_hello.limits.max_frame
        # Only the header: the server must refuse before any payload arrives.
        raw.send_raw(frame_header(limit + 1))
        err = await raw.recv_until(lambda m: isinstance(m, Error))
        assert err.code == "frame_too_large"
        assert str(limit) in err.message
        bye = await raw.recv_until(lambda m: isinstance(m, Bye))
        assert bye.code == "frame_too_large"
        assert await raw.closed()
        # other clients see no effect
        sent = await witness.send("general", "unaffected")
        ev = await next_event(witness, Message, text="unaffected")
        assert ev.seq == sent.seq


async def test_garbage_bytes_get_an_error_and_a_close(server) -> None:
    raw = await RawConnection.open(server)
    raw.send_raw(os.urandom(64) + b"\xff\xff\xff\xff")
    msg = await raw.recv_until(lambda m: isinstance(m, Error | Bye))
    assert msg.code in ("frame_too_large", "protocol", "bad_request")
    raw.close()


async def test_undecodable_frame_gets_error_and_connection_stays_usable(server) -> None:
    raw = await RawConnection.open(server)
    await raw.login(unique())
    junk = b"\xc1\xc1\xc1"  # 0xc1 is never valid MessagePack
    raw.send_raw(frame_header(len(junk)) + junk)
    err = await raw.recv_until(lambda m: isinstance(m, Error))
    assert err.code == "protocol"
    raw.send(Send(id=7, to="general", text="after junk"))
    ok = await raw.recv_until(lambda m: isinstance(m, Ok) and m.id == 7)
    assert ok.result["seq"] >= 1
    raw.close()


async def test_invalid_utf8_in_text_is_refused_with_request_id(server) -> None:
    raw = await RawConnection.open(server)
    await raw.login(unique())
    payload = msgspec.msgpack.encode({"t": "send", "id": 5, "to": "general", "text": "X"})
    payload = payload.replace(b"\xa1X", b"\xa2\xff\xfe")  # str of 2 invalid bytes
    raw.send_raw(frame_header(len(payload)) + payload)
    err = await raw.recv_until(lambda m: isinstance(m, Error))
    assert err.id == 5 and err.code in ("protocol", "bad_request")
    # nothing was stored
    async with logged_in(server) as other:
        page = await other.history_page("general")
        assert all("\ufffd" not in m.text for m in page.messages)
    raw.close()


async def test_unknown_message_type_and_wrong_fields(server) -> None:
    raw = await RawConnection.open(server)
    await raw.login(unique())
    for payload in (
        msgspec.msgpack.encode({"t": "explode", "id": 3}),
        msgspec.msgpack.encode({"t": "send", "id": 4, "to": 12, "text": "x"}),
    ):
        raw.send_raw(frame_header(len(payload)) + payload)
        err = await raw.recv_until(lambda m: isinstance(m, Error))
        assert err.code == "bad_request"
    raw.close()


async def test_request_before_hello_and_before_login(server) -> None:
    raw = await RawConnection.open(server, hello=False)
    raw.send(Send(id=1, to="general", text="too early"))
    err = await raw.recv_until(lambda m: isinstance(m, Error))
    assert err.code == "protocol" and "hello" in err.message
    assert await raw.closed()

    raw = await RawConnection.open(server)
    raw.send(Send(id=2, to="general", text="not logged in"))
    err = await raw.recv_until(lambda m: isinstance(m, Error))
    assert err.code == "not_logged_in" and err.id == 2
    raw.close()


async def test_wrong_protocol_version_is_refused(server) -> None:
    raw = await RawConnection.open(server, hello=False)
    raw.send(ClientHello(version=999))
    err = await raw.recv_until(lambda m: isinstance(m, Error))
    assert err.code == "version"
    assert await raw.closed()


async def test_client_vanishing_mid_frame_harms_nobody(server) -> None:
    async with logged_in(server) as witness:
        raw = await RawConnection.open(server)
        await raw.login(unique())
        frame = encode(Send(id=9, to="general", text="never finished"))
        raw.send_raw(frame[: len(frame) // 2])
        await raw.writer.drain()
        raw.writer.transport.abort()
        await asyncio.sleep(0.1)
        sent = await witness.send("general", "still fine")
        ev = await next_event(witness, Message, text="still fine")
        assert ev.seq == sent.seq
        texts = [m.text for m in (await witness.history_page("general")).messages]
        assert "never finished" not in texts


async def test_oversized_text_is_refused(server) -> None:
    async with logged_in(server) as a:
        limit = a.limits.max_text
        try:
            await a.send("general", "x" * (limit + 1))
        except Exception as exc:  # RoostError
            assert getattr(exc, "code", "") == "bad_request"
            assert str(limit) in str(exc)
        else:
            raise AssertionError("oversized text was accepted")


async def test_duplicate_login_on_one_connection_is_refused(server) -> None:
    raw = await RawConnection.open(server)
    name = unique()
    ok = await raw.login(name)
    assert isinstance(ok, Ok)
    again = await raw.login(name, PASSWORD)
    assert isinstance(again, Error) and again.code == "already_logged_in"
    raw.close()


async def test_sender_vanishing_before_its_ack_still_delivers(server) -> None:
    async with logged_in(server) as witness:
        raw = await RawConnection.open(server)
        await raw.login(unique())
        for i in range(20):
            raw.send(Send(id=100 + i, to="general", text=f"fire and forget {i}"))
        # End of stream right behind the requests: the server closes before any ack.
        # (A close() with unread acks would send a reset, and TCP would drop the tail.)
        raw.writer.write_eof()
        ev = await next_event(witness, Message, text="fire and forget 19")
        raw.close()
        assert ev.seq >= 20
        await asyncio.sleep(0.2)
    assert "Traceback" not in server.log() and "InvalidStateError" not in server.log()
