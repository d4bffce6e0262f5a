"""Roost sessions over the web gateway's WebSocket, for the benchmarks (bench/web.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from common import HOST, PASSWORD, Counter, RoostSetupError
from roost.protocol.codec import client_decoder, encode
from roost.protocol.messages import (
    PROTOCOL_VERSION,
    ClientHello,
    Error,
    Login,
    Ok,
    Resume,
    ServerHello,
)

_http: aiohttp.ClientSession | None = None
_readers: set[asyncio.Task[None]] = set()


def http() -> aiohttp.ClientSession:
    """One client session (connection pool off: every WebSocket has its own socket)."""
    global _http
    if _http is None:
        _http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    return _http


async def ws_session(
    web_port: int, user: str, token: str | None = None
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Open /ws, hello, log in (password, registering, or a session token)."""
    ws = await http().ws_connect(f"http://{HOST}:{web_port}/ws", max_msg_size=0)
    decoder = client_decoder()
    pending: list[Any] = []

    async def recv() -> Any:
        while not pending:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise RoostSetupError(f"WebSocket ended during setup: {msg.type}")
            pending.extend(decoder.feed(msg.data))
        return pending.pop(0)

    assert isinstance(await recv(), ServerHello)
    login: Any = (
        Resume(id=1, token=token)
        if token
        else Login(id=1, user=user, password=PASSWORD, register=True)
    )
    await ws.send_bytes(
        encode(ClientHello(version=PROTOCOL_VERSION, client="bench")) + encode(login)
    )
    while True:
        msg = await recv()
        if isinstance(msg, Ok) and msg.id == 1:
            return ws, msg.result
        if isinstance(msg, Error) and msg.id == 1:
            raise RoostSetupError(f"{msg.code}: {msg.message}")


async def ws_counter(web_port: int, user: str, counter: Counter) -> Counter:
    """A receiver over a WebSocket: every binary message goes to ``counter``."""
    ws, _ = await ws_session(web_port, user)

    async def read() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                counter.data_received(msg.data)
        counter.closed = True

    task = asyncio.ensure_future(read())
    _readers.add(task)
    task.add_done_callback(_readers.discard)
    return counter
