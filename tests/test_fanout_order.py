"""Room fan-out under load, against a real server.

Pipelining senders make messages arrive while earlier ones are still being
written (straight to sockets, or through outboxes), and sessions come and go
in between. Every session must still see every message of its time in the
room exactly once, in seq order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import PASSWORD, RawConnection, unique
from roost.protocol.messages import Login, Message, Ok, Send

ROOM = "general"


async def _collect(conn: RawConnection, want: int, timeout: float = 20.0) -> list[int]:
    """Seqs of the room messages this connection receives, until ``want`` of them."""
    seqs: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(seqs) < want:
        msg = await conn.recv(max(0.05, deadline - loop.time()))
        assert msg is not None, f"stream ended after {len(seqs)} of {want} messages"
        if isinstance(msg, Message) and msg.room == ROOM:
            seqs.append(msg.seq)
    return seqs


async def _pipeline(conn: RawConnection, count: int, tag: str) -> None:
    """Send ``count`` messages at once, without waiting for replies."""
    for i in range(1, count + 1):
        conn.send(Send(id=i, to=ROOM, text=f"{tag} {i}"))
    await conn.writer.drain()


async def _login_keeping_messages(conn: RawConnection, user: str) -> tuple[int, list[int]]:
    """Log in; the room's last seq as of the login, and the seqs of room
    messages that arrive before the reply (kept, not dropped)."""
    conn.send(Login(id=1, user=user, password=PASSWORD, register=True))
    early: list[int] = []
    while True:
        msg = await conn.recv(10)
        assert msg is not None
        if isinstance(msg, Message) and msg.room == ROOM:
            early.append(msg.seq)
        elif isinstance(msg, Ok) and msg.id == 1:
            return msg.result["conversations"][ROOM], early


async def test_every_session_gets_every_message_once_in_order(server: Any) -> None:
    receivers = [await RawConnection.open(server) for _ in range(30)]
    for r in receivers:
        await r.login(unique("rx"))
    senders = [await RawConnection.open(server) for _ in range(3)]
    for s in senders:
        await s.login(unique("tx"))
    per_sender = 300
    total = per_sender * len(senders)
    collecting = [asyncio.ensure_future(_collect(r, total)) for r in receivers]
    await asyncio.gather(*(_pipeline(s, per_sender, f"s{i}") for i, s in enumerate(senders)))
    results = await asyncio.gather(*collecting)
    first = results[0][0]
    for seqs in results:
        assert seqs == list(range(first, first + total)), "a session missed, repeated or reordered"
    for c in receivers + senders:
        c.close()


class _Reader:
    """Reads a connection in the background, keeping the seqs of the room's messages."""

    def __init__(self, conn: RawConnection, seqs: list[int] | None = None) -> None:
        self.conn = conn
        self.seqs = seqs if seqs is not None else []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            msg = await self.conn.recv(60)
            if msg is None:
                return
            if isinstance(msg, Message) and msg.room == ROOM:
                self.seqs.append(msg.seq)

    async def until(self, last: int, timeout: float = 20.0) -> list[int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.seqs or self.seqs[-1] < last:
            assert loop.time() < deadline, f"stopped at {self.seqs[-1:]} of {last}"
            assert not self.task.done(), "the stream ended"
            await asyncio.sleep(0.01)
        self.task.cancel()
        return self.seqs


async def test_a_session_that_logs_in_mid_stream_misses_nothing_after(server: Any) -> None:
    receivers = [await RawConnection.open(server) for _ in range(60)]
    for r in receivers:
        await r.login(unique("rx"))
    readers = [_Reader(r) for r in receivers]
    sender = await RawConnection.open(server)
    await sender.login(unique("tx"))
    stop = asyncio.Event()

    async def stream() -> int:
        """Bursts of 50 pipelined messages every millisecond until told to stop (bounded)."""
        sent = 0
        while not stop.is_set() and sent < 50_000:
            for _ in range(50):
                sent += 1
                sender.send(Send(id=sent, to=ROOM, text=f"m {sent}"))
            await sender.writer.drain()
            await asyncio.sleep(0.001)
        return sent

    sending = asyncio.ensure_future(stream())
    # Sessions that arrive (and one that leaves) while the room is being written.
    late: list[tuple[_Reader, int]] = []
    for _ in range(5):
        await asyncio.sleep(0.01)
        conn = await RawConnection.open(server)
        known, early = await _login_keeping_messages(conn, unique("late"))
        late.append((_Reader(conn, early), known))
    readers[1].task.cancel()
    receivers[1].close()
    await asyncio.sleep(0.05)
    stop.set()
    # The room had no messages before: its seqs are 1..sent.
    last = await sending
    assert await readers[0].until(last) == list(range(1, last + 1))
    assert all(known < last for _, known in late), "a late session came after the stream"
    for reader, known in late:
        seqs = await reader.until(last)
        # Every message after the last one its login reported, once, in order
        # (it may also see a few from just before, which it can tell by seq).
        assert seqs[0] <= known + 1
        assert seqs == list(range(seqs[0], last + 1))
    for r in readers:
        r.task.cancel()
    for c in [*receivers, *(r.conn for r, _ in late), sender]:
        c.close()
