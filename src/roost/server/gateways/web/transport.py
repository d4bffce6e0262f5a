"""A WebSocket dressed as the asyncio transport a ClientConnection writes to.

Every write becomes one binary WebSocket message holding whole native frames
(the outbox only ever writes whole frames), written straight onto the TCP (or
TLS) transport under the WebSocket: a server's frames are never masked, and
compression is off, so building the header is all there is to it. The
connection's outbox, budgets and priorities work unchanged on top.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING, Any

from aiohttp import web

from roost.server.outbox import WRITE_HIGH, WRITE_LOW

if TYPE_CHECKING:
    from roost.server.connection import ClientConnection

_BINARY_FIN = 0x82
_CLOSE_GRACE = 5.0  # seconds the browser has to answer our close
# aiohttp's protocol, not ours, gets the kernel transport's pause/resume
# callbacks; so a paused session looks at the buffer this often instead.
_DRAIN_POLL = 0.005
# Copy a small payload into the header's buffer (one write); write a large one apart.
_JOIN_BELOW = 16 * 1024


def ws_header(length: int) -> bytes:
    """Header of an unmasked, final, binary WebSocket frame (RFC 6455 section 5.2)."""
    if length < 126:
        return bytes((_BINARY_FIN, length))
    if length < 0x10000:
        return struct.pack("!BBH", _BINARY_FIN, 126, length)
    return struct.pack("!BBQ", _BINARY_FIN, 127, length)


class WebSocketTransport:
    """Transport for one ClientConnection whose peer is a WebSocket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        raw: asyncio.Transport,
        peername: tuple[str, int] | None = None,
    ) -> None:
        self.ws = ws
        self.raw = raw
        self.peername = peername
        self.conn: ClientConnection | None = None
        self.closed = False
        self.paused = False  # ClientConnection.pause_writing was called
        # Set while reading is paused: the receive loop awaits it (a future only
        # then, so that thousands of idle sessions hold none).
        self.reading_paused: asyncio.Future[None] | None = None
        self._close_task: asyncio.Task[Any] | None = None

    # --- writing -----------------------------------------------------------------

    def write(self, data: bytes | bytearray) -> None:
        raw = self.raw
        if self.closed or raw.is_closing():
            return
        n = len(data)
        if n < _JOIN_BELOW:
            raw.write(ws_header(n) + data)
        else:
            raw.write(ws_header(n))
            raw.write(data)
        if not self.paused and raw.get_write_buffer_size() > WRITE_HIGH:
            self.paused = True
            if self.conn is not None:
                self.conn.pause_writing()
            asyncio.get_running_loop().call_later(_DRAIN_POLL, self._poll_drain)

    def _poll_drain(self) -> None:
        if self.closed or self.raw.is_closing():
            return
        if self.raw.get_write_buffer_size() > WRITE_LOW:
            asyncio.get_running_loop().call_later(_DRAIN_POLL, self._poll_drain)
            return
        self.paused = False
        if self.conn is not None:
            self.conn.resume_writing()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.raw.set_write_buffer_limits(high=high, low=low)

    def is_closing(self) -> bool:
        return self.closed or self.raw.is_closing()

    def can_write_eof(self) -> bool:
        # The WebSocket close handshake stands for TCP's half-close.
        return False

    def write_eof(self) -> None:
        self.close()

    # --- reading -----------------------------------------------------------------

    def pause_reading(self) -> None:
        # The receive loop stops taking messages; aiohttp's bounded reader queue
        # then stops reading the socket, so TCP pushes back on the browser.
        if self.reading_paused is None:
            self.reading_paused = asyncio.get_running_loop().create_future()

    def resume_reading(self) -> None:
        waiter, self.reading_paused = self.reading_paused, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- ending ------------------------------------------------------------------

    def close(self) -> None:
        """Send a WebSocket close after what was written, then let the socket go."""
        if self.closed:
            return
        self.closed = True
        self.resume_reading()  # the receive loop must see the end
        self._close_task = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=1000), _CLOSE_GRACE)
        except (TimeoutError, ConnectionError):
            self.raw.abort()

    def abort(self) -> None:
        self.closed = True
        self.resume_reading()
        self.raw.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername" and self.peername is not None:
            return self.peername
        return self.raw.get_extra_info(name, default)
