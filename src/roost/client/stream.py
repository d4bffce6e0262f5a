"""The SDK's end of one connection: a protocol that hands each read to the decoder.

asyncio's ``StreamReader`` copies every read into its buffer and out again,
and wakes the reading task once per read: a receiver of many small messages
spent a fifth of its time there (docs/benchmarks.md, "The SDK as a
receiver"). This protocol keeps the bytes of the handshake for ``read``; once
the session is up, ``start`` has every read passed straight to a callback
(the decoder and the event queue) from the loop's read callback.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable
from typing import Any, cast


class ServerStream(asyncio.Protocol):
    """One connection to a server: handshake reads, then a sink; writes with flow control."""

    transport: asyncio.Transport  # set by connection_made, before open_stream returns

    def __init__(self) -> None:
        self._early = bytearray()  # bytes before a sink is set (the handshake)
        self._sink: Callable[[bytes], None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        loop = asyncio.get_running_loop()
        # Done once the server will send nothing more (its EOF, or the connection
        # gone); _lost only once the transport is closed, which waits for our
        # unsent writes after an EOF.
        self._ended: asyncio.Future[None] = loop.create_future()
        self._lost: asyncio.Future[None] = loop.create_future()
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._holds: set[str] = set()

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though uvloop's TLS one does not derive from asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if sink is None:
            self._early += data
            self._wake()
            return
        try:
            sink(data)
        except Exception as exc:  # a frame the decoder refuses, a handler that failed
            self._fail(exc)

    def eof_received(self) -> bool:
        if not self._ended.done():
            self._ended.set_result(None)
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self._error is None:
            self._error = exc
        for done in (self._ended, self._lost):
            if not done.done():
                done.set_result(None)
        self._wake()
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(exc or ConnectionResetError("connection lost"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # --- reading -----------------------------------------------------------------------

    async def read(self) -> bytes:
        """The bytes received since the last read (the handshake); b"" once the server closed.

        Raises the connection's error. Not used once ``start`` was called.
        """
        while not self._early:
            if self._error is not None:
                raise self._error
            if self._ended.done():
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._early)
        self._early.clear()
        return data

    def start(self, sink: Callable[[bytes], None]) -> None:
        """From now on every read goes to ``sink``, the bytes left of the handshake first."""
        self._sink = sink
        if self._early:
            early = bytes(self._early)
            self._early.clear()
            self.data_received(early)

    async def wait_ended(self) -> None:
        """Wait until the server has ended the connection (or it was lost); raises its
        error (or the sink's), if any."""
        await asyncio.shield(self._ended)
        if self._error is not None:
            raise self._error

    def hold(self, reason: str, held: bool) -> None:
        """Stop (or go on) reading from the socket for ``reason``; reading goes on once no
        reason holds it, and TCP makes the server wait meanwhile."""
        was = bool(self._holds)
        if held:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        if self.transport.is_closing() or was == bool(self._holds):
            return
        if self._holds:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    # --- writing -----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if self._lost.done():
            raise ConnectionResetError("connection lost")
        if not self._write_paused:
            return
        fut = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._drain_waiters:  # cancelled, or timed out
                self._drain_waiters.remove(fut)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def close(self) -> None:
        self._sink = _discard  # a client that closes reads nothing more
        self.transport.close()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._lost)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._sink = _discard  # what follows in the socket is not read any more
        self.transport.abort()


def _discard(data: bytes) -> None:
    del data


async def open_stream(
    host: str,
    port: int,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
) -> ServerStream:
    """A TCP (or TLS) connection to ``host:port`` read through a ``ServerStream``."""
    loop = asyncio.get_running_loop()
    _, stream = await loop.create_connection(
        ServerStream, host, port, ssl=ssl, server_hostname=server_hostname
    )
    return stream
