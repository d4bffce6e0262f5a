"""A WebSocket client that speaks native frames by hand (for gateway tests without a browser)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import msgspec

from roost.protocol.codec import client_decoder, encode
from roost.protocol.messages import PROTOCOL_VERSION, ClientHello, Login, Ok, ServerHello

PASSWORD = "correct horse"
_ids = itertools.count(1000)


def web_url(srv: Any, path: str = "/") -> str:
    return f"http://{srv.host}:{srv.web_port}{path}"


class WebSocketPeer:
    """One WebSocket session of a test: frames out as binary messages, messages decoded back."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.decoder = client_decoder(16 * 1024 * 1024)
        self.pending: list[Any] = []
        self.close_code: int | None = None
        self.sending: set[asyncio.Future[None]] = set()

    @classmethod
    async def open(
        cls, srv: Any, http: aiohttp.ClientSession, origin: str | None = "same", hello: bool = True
    ) -> WebSocketPeer:
        headers = {}
        if origin == "same":
            headers["Origin"] = f"http://{srv.host}:{srv.web_port}"
        elif origin is not None:
            headers["Origin"] = origin
        ws = await http.ws_connect(web_url(srv, "/ws"), headers=headers)
        peer = cls(http, ws)
        first = await peer.recv()
        assert isinstance(first, ServerHello)
        peer.server_hello = first
        if hello:
            peer.send(ClientHello(version=PROTOCOL_VERSION))
        return peer

    def send(self, msg: msgspec.Struct) -> None:
        self.send_raw(encode(msg))

    def send_raw(self, data: bytes) -> None:
        # Sent in order by the event loop; kept so the tasks are not collected early.
        task = asyncio.ensure_future(self.ws.send_bytes(data))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def request(self, msg: msgspec.Struct) -> Any:
        self.send(msg)
        rid = msg.id  # type: ignore[attr-defined]
        return await self.recv_until(lambda m: getattr(m, "id", None) == rid)

    async def login(self, user: str, register: bool = True) -> Ok:
        reply = await self.request(
            Login(id=next(_ids), user=user, password=PASSWORD, register=register)
        )
        assert isinstance(reply, Ok), reply
        return reply

    async def recv(self, timeout: float = 5.0) -> Any:
        while not self.pending:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type != aiohttp.WSMsgType.BINARY:
                self.close_code = self.ws.close_code
                raise ConnectionError(f"WebSocket ended: {msg.type} {self.ws.close_code}")
            self.pending.extend(self.decoder.feed(msg.data))
        return self.pending.pop(0)

    async def recv_until(self, pred: Any, timeout: float = 5.0) -> Any:
        async def go() -> Any:
            while True:
                m = await self.recv(timeout)
                if pred(m):
                    return m

        return await asyncio.wait_for(go(), timeout)

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the WebSocket (whatever came before is skipped)."""
        try:
            while True:
                await self.recv(timeout)
        except ConnectionError:
            return True
