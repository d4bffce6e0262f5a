"""How the SDK reads a connection: what came before a broken frame is kept, the
connection ends with the frame's reason, and the client does not hang.

The peer here is a hostile server on a loopback port, not Roost (which never
sends such frames): it speaks the handshake of docs/protocol.md, then
misbehaves.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from helpers import client_for, next_event, unique
from roost.client.events import ConnectionState
from roost.protocol.codec import encode, server_decoder
from roost.protocol.frames import frame_header
from roost.protocol.messages import (
    PROTOCOL_VERSION,
    Limits,
    Login,
    LoginResult,
    Message,
    Ok,
    Ping,
    RoomRenamed,
    ServerHello,
)

LIMIT = 4096  # the hostile server's max_frame, announced in its hello


@asynccontextmanager
async def hostile(
    after_login: Callable[[str], bytes],
    hang_up: bool = False,
    on_ping: bytes = b"",
) -> AsyncIterator[Any]:
    """A server that answers hello and login, then writes ``after_login(user)``
    in the same write as the login's reply (and closes, with ``hang_up``); a
    ping is answered with ``on_ping`` and the ping's reply, in one write."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = ServerHello(version=PROTOCOL_VERSION, server="hostile", limits=Limits(LIMIT))
        writer.write(encode(hello))
        decoder = server_decoder(LIMIT)
        try:
            while data := await asyncio.wait_for(reader.read(65536), 10):
                for msg in decoder.feed(data):
                    if isinstance(msg, Login):
                        result = LoginResult(msg.user, "user", 1, "token", ["general"])
                        writer.write(encode(Ok(id=msg.id, result=result)) + after_login(msg.user))
                        await writer.drain()
                        if hang_up:
                            return
                    elif isinstance(msg, Ping):
                        writer.write(on_ping + encode(Ok(id=msg.id)))
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield type("Srv", (), {"host": "127.0.0.1", "port": listener.sockets[0].getsockname()[1]})
    finally:
        listener.close()
        await listener.wait_closed()


def _message(seq: int, room: str = "general") -> bytes:
    return encode(Message(room=room, seq=seq, sender="someone", text=f"m{seq}", ts=1.0))


async def test_a_frame_over_the_announced_limit_ends_the_connection_after_what_came_before() -> (
    None
):
    # Two messages, then the header of a frame one byte over the hello's limit.
    async with hostile(lambda _user: _message(1) + _message(2) + frame_header(LIMIT + 1)) as srv:
        client = client_for(srv, unique(), reconnect=False, cursors={"general": 0})
        try:
            await asyncio.wait_for(client.start(), 5)
            first = await next_event(client, Message)
            second = await next_event(client, Message)
            assert (first.text, second.text) == ("m1", "m2")
            closed = await next_event(client, ConnectionState, state="closed")
            assert closed.detail == (
                f"frame of {LIMIT + 1} bytes exceeds the limit of {LIMIT} bytes"
            )
        finally:
            await client.close()


async def test_a_server_that_closes_mid_frame_ends_the_connection() -> None:
    # Half a frame, then the server hangs up: no message, a clean end, no hang.
    async with hostile(lambda _user: _message(1)[:10], hang_up=True) as srv:
        client = client_for(srv, unique(), reconnect=False, cursors={"general": 0})
        try:
            await asyncio.wait_for(client.start(), 5)
            ev = await next_event(client, ConnectionState | Message)
            assert isinstance(ev, ConnectionState)
            assert (ev.state, ev.detail) == ("closed", "connection to the server lost")
        finally:
            await client.close()


async def test_a_rename_in_the_middle_of_a_read_applies_to_the_messages_after_it() -> None:
    # One read, once the session is up (the answer to a ping): a message, the
    # rename notice, then a message queued under the old name before the
    # rename (the notice overtook it, docs/protocol.md 6).
    notice = encode(RoomRenamed(room="general", new="lounge", by="mod"))
    batch = _message(1) + notice + _message(2)
    async with hostile(lambda _user: b"", on_ping=batch) as srv:
        client = client_for(srv, unique(), reconnect=False, cursors={"general": 0})
        try:
            await asyncio.wait_for(client.start(), 5)
            await asyncio.wait_for(client.ping(), 5)
            got = [await next_event(client, Message | RoomRenamed) for _ in range(3)]
            assert [(type(e).__name__, e.room) for e in got] == [
                ("Message", "general"),
                ("RoomRenamed", "general"),
                ("Message", "lounge"),
            ]
            assert got[2].seq == 2 and client.cursors.get("lounge") == 2
            assert "general" not in client.cursors
        finally:
            await client.close()


async def test_the_servers_eof_ends_the_connection_while_writes_are_still_queued() -> None:
    # The server says EOF and reads nothing more, while the client has more to
    # write than the kernel buffers hold: the client must not wait for the
    # writes to drain before it sees the connection end.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    srv = type("Srv", (), {"host": "127.0.0.1", "port": listener.getsockname()[1]})
    client = client_for(srv, unique(), reconnect=False, cursors={"general": 0})
    starting = asyncio.ensure_future(client.start())
    peer, _ = await loop.sock_accept(listener)
    try:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hello = ServerHello(version=PROTOCOL_VERSION, server="hostile", limits=Limits(LIMIT))
        await loop.sock_sendall(peer, encode(hello))
        decoder = server_decoder(LIMIT)
        login = None
        while login is None:
            data = await asyncio.wait_for(loop.sock_recv(peer, 65536), 5)
            login = next((m for m in decoder.feed(data) if isinstance(m, Login)), None)
        result = LoginResult(login.user, "user", 1, "token", ["general"])
        await loop.sock_sendall(peer, encode(Ok(id=login.id, result=result)))
        await asyncio.wait_for(starting, 5)
        assert client._stream is not None
        client._stream.write(b"\0" * (8 << 20))  # stays queued: the peer reads no more
        await asyncio.sleep(0.1)
        peer.shutdown(socket.SHUT_WR)
        closed = await next_event(client, ConnectionState, state="closed")
        assert closed.detail == "connection to the server lost"
    finally:
        peer.close()
        listener.close()
        await client.close()
