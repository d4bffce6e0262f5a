"""Helpers for tests that talk to a server with the SDK or raw sockets."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from roost.client import Client, Message
from roost.protocol.codec import client_decoder, encode
from roost.protocol.messages import PROTOCOL_VERSION, ClientHello, Login, Ok, ServerHello

PASSWORD = "correct horse"
_names = itertools.count(1)


def unique(prefix: str = "user") -> str:
    return f"{prefix}{next(_names)}"


def client_for(srv: Any, user: str, password: str = PASSWORD, **kwargs: Any) -> Client:
    kwargs.setdefault("register", True)
    return Client(srv.host, srv.port, user, password, **kwargs)


@asynccontextmanager
async def logged_in(srv: Any, user: str | None = None, **kwargs: Any) -> AsyncIterator[Client]:
    client = client_for(srv, user or unique(), **kwargs)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def next_event(client: Client, kind: type, timeout: float = 5.0, **match: Any) -> Any:
    """The next event of type ``kind`` whose fields equal ``match``."""

    async def find() -> Any:
        async for ev in client.events():
            if isinstance(ev, kind) and all(getattr(ev, k) == v for k, v in match.items()):
                return ev
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(find(), timeout)


async def message_of(client: Client, kind: str, sender: str, timeout: float = 5.0) -> Message:
    """The next message event of ``kind`` ("text", "edit", "react"...) from ``sender``."""

    async def find() -> Message:
        async for ev in client.events():
            if isinstance(ev, Message) and ev.kind == kind and ev.sender == sender:
                return ev
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(find(), timeout)


class RawConnection:
    """A bare TCP connection speaking frames by hand (for bad-input tests)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = client_decoder()
        self.pending: list[Any] = []

    @classmethod
    async def open(cls, srv: Any, hello: bool = True) -> RawConnection:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        conn = cls(reader, writer)
        first = await conn.recv()
        assert isinstance(first, ServerHello)
        conn.server_hello = first
        if hello:
            conn.send(ClientHello(version=PROTOCOL_VERSION))
        return conn

    def send(self, msg: msgspec.Struct) -> None:
        self.writer.write(encode(msg))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def login(self, user: str, password: str = PASSWORD, register: bool = True) -> Any:
        self.send(Login(id=999_999, user=user, password=password, register=register))
        return await self.recv_until(lambda m: getattr(m, "id", None) == 999_999)

    async def recv(self, timeout: float = 5.0) -> Any:
        """The next message, or None at end of stream."""
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    async def recv_until(self, pred: Any, timeout: float = 5.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - loop.time()))
            if msg is None:
                raise AssertionError("connection closed before the expected message")
            if pred(msg):
                return msg

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the stream (reading what remains)."""
        try:
            while True:
                msg = await self.recv(timeout)
                if msg is None:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        self.writer.close()


def pause_reading(client: Client) -> None:
    """Make an SDK client stop taking data from its socket, as a stalled consumer would.

    (Its receive buffer is left alone: shrinking it on a live loopback
    connection keeps the window nearly shut long after reading resumes.)
    """
    assert client._stream is not None
    client._stream.hold("test", True)


def resume_reading(client: Client) -> None:
    assert client._stream is not None
    client._stream.hold("test", False)


class StalledReader:
    """A raw connection that reads nothing until asked to (no background reading).

    The kernel holds what its receive buffer takes (about 128 KiB by default on
    Linux); the server's outbox holds the rest. (A much smaller buffer would
    keep the window shut after reading resumes, below the loopback MSS.)
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = client_decoder()

    @classmethod
    async def open(cls, srv: Any, user: str) -> StalledReader:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, (srv.host, srv.port))
        reader = cls(sock)
        login = Login(id=1, user=user, password=PASSWORD, register=True)
        await loop.sock_sendall(sock, encode(ClientHello(version=PROTOCOL_VERSION)) + encode(login))
        async for msg in reader.messages(idle=5.0):
            if getattr(msg, "id", None) == 1:
                assert isinstance(msg, Ok), msg
                return reader
        raise AssertionError("no login reply")

    async def messages(self, idle: float = 1.0) -> AsyncIterator[Any]:
        """Messages as they are read, until the stream ends or is idle for ``idle`` s."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), idle)
            except (TimeoutError, ConnectionResetError):
                return
            if not data:
                return
            for msg in self.decoder.feed(data):
                yield msg

    async def read_all(self, idle: float = 1.0, chat: int = 0) -> list[Any]:
        """Everything until idle or closed, or until ``chat`` chat messages have come."""
        out: list[Any] = []
        seen = 0
        async for msg in self.messages(idle):
            out.append(msg)
            seen += isinstance(msg, Message)
            if chat and seen == chat:
                break
        return out

    def close(self) -> None:
        self.sock.close()
