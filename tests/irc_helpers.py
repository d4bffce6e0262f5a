"""Helpers for IRC gateway tests: a server with its IRC port, and a raw IRC line client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import time
from typing import Any

from helpers import PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def irc_server(server_factory: Any, **config: Any) -> Any:
    """A server with the IRC gateway on a free port (``srv.irc_port``)."""
    port = free_port()
    srv = server_factory(irc_port=port, **config)
    srv.irc_port = port
    return srv


class IrcLines:
    """An IRC connection driven line by line, as a test reads the protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: list[str] = []

    @classmethod
    async def open(cls, srv: Any) -> IrcLines:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.irc_port)
        return cls(reader, writer)

    def send(self, *lines: str) -> None:
        for text in lines:
            self.writer.write(text.encode() + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def line(self, timeout: float = 5.0) -> str:
        data = await asyncio.wait_for(self.reader.readline(), timeout)
        if not data:
            raise EOFError("connection closed")
        text = data.decode("utf-8", "replace").rstrip("\r\n")
        self.seen.append(text)
        return text

    async def until(self, pattern: str, timeout: float = 5.0) -> str:
        """Read lines until one matches ``pattern`` (a regular expression); that line."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matched {pattern!r}; seen: {self.seen[-20:]}")
            try:
                text = await self.line(left)
            except TimeoutError:
                raise AssertionError(
                    f"no line matched {pattern!r}; seen: {self.seen[-20:]}"
                ) from None
            if rx.search(text):
                return text

    async def closed(self, timeout: float = 5.0) -> list[str]:
        """Lines until the server closes the connection."""
        out = []
        try:
            while True:
                out.append(await self.line(timeout))
        except EOFError:
            return out

    async def register(
        self, nick: str, password: str = PASSWORD, caps: str = "", sasl: bool = False
    ) -> None:
        """Log in (PASS, or SASL PLAIN), asking for ``caps``; returns after 001..376."""
        if caps or sasl:
            self.send("CAP LS 302")
        if not sasl:
            self.send(f"PASS :{password}")
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        wanted = " ".join([*caps.split(), *(["sasl"] if sasl else [])])
        if wanted:
            self.send(f"CAP REQ :{wanted}")
            await self.until(r" CAP \S+ ACK ")
        if sasl:
            self.send("AUTHENTICATE PLAIN")
            await self.until(r"^AUTHENTICATE \+")
            blob = base64.b64encode(f"\0{nick}\0{password}".encode()).decode()
            self.send(f"AUTHENTICATE {blob}")
            await self.until(r" 903 ")
        if caps or sasl:
            self.send("CAP END")
        await self.until(r" 376 ")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
