"""Reader pace (roost.server.reader_pace), against a real server.

A session that lets data pile up gets a room's messages held and written
together, and one write per fan-out again once it has caught up; whatever the
mode, every session gets every message once and in order. The server logs
each switch (at debug level), which is how the tests see it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from files_helpers import MiB, make_file, sha256
from helpers import RawConnection, StalledReader, logged_in, unique
from roost.protocol.codec import encode
from roost.protocol.messages import Download, FileData, Message, Ok, Send
from roost.server.reader_pace import PROBE_INTERVAL

ROOM = "general"
TEXT = "x" * 250


async def _drain(conn: RawConnection, texts: list[str]) -> None:
    """Read until cancelled, keeping the texts of room messages."""
    while True:
        msg = await conn.recv(30)
        if msg is None:
            return
        if isinstance(msg, Message) and msg.room == ROOM:
            texts.append(msg.text)


async def _until_logged(srv: Any, line: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while line not in srv.log():
        assert loop.time() < deadline, f"the server never logged {line!r}"
        await asyncio.sleep(0.05)


def _numbers(texts: list[str]) -> list[int]:
    return [int(t.split()[0]) for t in texts]


class LazyReader:
    """A session that reads what has come every 50 ms, as a busy client would."""

    def __init__(self, stalled: StalledReader) -> None:
        self.stalled = stalled
        self.texts: list[str] = []
        self.reading = True
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            while self.reading:
                try:
                    data = self.stalled.sock.recv(65536)
                except BlockingIOError:
                    break
                if not data:
                    return
                self.keep(self.stalled.decoder.feed(data))

    def keep(self, messages: list[Any]) -> None:
        self.texts += [m.text for m in messages if isinstance(m, Message) and m.room == ROOM]

    async def read_rest(self, total: int) -> list[str]:
        """Stop the periodic reads and read until ``total`` room messages have come."""
        self.task.cancel()
        if len(self.texts) < total:
            self.keep(await self.stalled.read_all(idle=5.0, chat=total - len(self.texts)))
        return self.texts


class Room:
    """A sender posting about 250 KB/s into the room, and a prompt reader."""

    def __init__(self, srv: Any, sender: RawConnection, prompt: RawConnection) -> None:
        self.srv = srv
        self.sender = sender
        self.sent = 0
        self.prompt_texts: list[str] = []
        echoed: list[str] = []
        self.tasks = [
            asyncio.create_task(_drain(prompt, self.prompt_texts)),
            asyncio.create_task(_drain(sender, echoed)),
        ]

    @classmethod
    async def open(cls, srv: Any) -> Room:
        prompt = await RawConnection.open(srv)
        await prompt.login(unique("prompt"))
        sender = await RawConnection.open(srv)
        await sender.login(unique("tx"))
        return cls(srv, sender, prompt)

    async def send_for(self, seconds: float, until: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline and (until is None or until not in self.srv.log()):
            for _ in range(2):
                self.sent += 1
                self.sender.send(Send(id=self.sent, to=ROOM, text=f"{self.sent} {TEXT}"))
            await asyncio.sleep(0.002)

    async def prompt_got_all(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(self.prompt_texts) < self.sent and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert _numbers(self.prompt_texts) == list(range(1, self.sent + 1))
        for task in self.tasks:
            task.cancel()


async def _lagging_reader(server_factory: Any) -> tuple[Any, str, LazyReader, Room]:
    """A server, a busy room and a reader 50 ms behind, once the server saw it lag."""
    srv = server_factory(args=["-v"])
    name = unique("lazy")
    lazy = LazyReader(await StalledReader.open(srv, name))
    room = await Room.open(srv)
    lags = f"({name}) reads late"
    await room.send_for(10.0, until=lags)
    assert lags in srv.log(), "a reader 50 ms behind for 10 s was never seen lagging"
    return srv, name, lazy, room


async def test_a_reader_that_falls_behind_is_written_together_and_loses_nothing(
    server_factory: Any,
) -> None:
    srv, name, lazy, room = await _lagging_reader(server_factory)
    await room.send_for(0.3)  # these are held and written together

    texts = await lazy.read_rest(room.sent)
    assert _numbers(texts) == list(range(1, room.sent + 1))
    # It has read everything and acknowledged it: the next probes see it caught up.
    await _until_logged(srv, f"({name}) keeps up", 20 * PROBE_INTERVAL)

    await room.send_for(0.2)  # and after the switch back, nothing is lost either
    got = await lazy.stalled.read_all(idle=5.0, chat=room.sent - len(texts))
    lazy.keep(got)
    assert _numbers(lazy.texts) == list(range(1, room.sent + 1))
    await room.prompt_got_all()
    lazy.stalled.close()


async def test_pace_readers_off_never_holds_a_session(server_factory: Any) -> None:
    srv = server_factory(args=["-v"], pace_readers=False)
    lazy = await StalledReader.open(srv, unique("lazy"))
    sender = await RawConnection.open(srv)
    await sender.login(unique("tx"))
    echoed: list[str] = []
    drain = asyncio.create_task(_drain(sender, echoed))
    for i in range(1, 1001):
        sender.send(Send(id=i, to=ROOM, text=f"{i} {TEXT}"))
        if i % 2 == 0:
            await asyncio.sleep(0.002)
    got = await lazy.read_all(idle=5.0, chat=1000)
    assert _numbers([m.text for m in got if isinstance(m, Message)]) == list(range(1, 1001))
    assert "reads late" not in srv.log()
    drain.cancel()
    sender.close()
    lazy.close()


async def test_a_download_is_not_held_while_its_reader_lags(
    server_factory: Any, tmp_path: Path
) -> None:
    srv = server_factory(args=["-v"])
    data = make_file(tmp_path / "big.bin", 2 * MiB)
    async with logged_in(srv) as owner:
        offered = await owner.upload(tmp_path / "big.bin", ROOM)
    name = unique("fetch")
    reader = await StalledReader.open(srv, name)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(reader.sock, encode(Download(id=7, file=offered.file.id)))
    # Twenty probes' worth of a reader that takes nothing while chunks queue up.
    await asyncio.sleep(20 * PROBE_INTERVAL)
    got = bytearray()
    async for msg in reader.messages(idle=5.0):
        if isinstance(msg, FileData) and msg.id == 7:
            got += msg.data
        elif getattr(msg, "id", None) == 7:
            assert isinstance(msg, Ok), msg
            break
    assert sha256(bytes(got)) == sha256(data)
    assert f"({name}) reads late" not in srv.log()
    reader.close()


async def test_a_lagging_reader_that_stops_reading_gets_everything_later(
    server_factory: Any,
) -> None:
    _, _, lazy, room = await _lagging_reader(server_factory)
    # Now it stops reading: its kernel buffers fill, then its outbox, where the
    # held messages are queued too; within the budget nothing is dropped.
    lazy.reading = False
    await room.send_for(1.0)
    texts = await lazy.read_rest(room.sent)
    assert _numbers(texts) == list(range(1, room.sent + 1))
    await room.prompt_got_all()
    lazy.stalled.close()
