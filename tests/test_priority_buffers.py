"""Bounded buffers against a real server: stalled readers cost bounded memory and lose nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from helpers import client_for, logged_in, pause_reading, resume_reading, unique
from roost.client import Client, Message
from roost.protocol.messages import Bye, Gap
from test_priority_delivery import FAST, send_all

BUDGET = 64 * 1024


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (KiB)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def wait_for_log(srv: Any, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in srv.log():
        assert time.monotonic() < deadline, f"{text!r} not in the server log"
        await asyncio.sleep(0.05)


async def messages_upto(client: Client, last: int, timeout: float) -> list[Message]:
    """Messages from events() until seq ``last`` of general has come."""
    got: list[Message] = []

    async def collect() -> None:
        async for ev in client.events():
            if isinstance(ev, Message) and ev.room == "general":
                got.append(ev)
                if ev.seq >= last:
                    return

    await asyncio.wait_for(collect(), timeout)
    return got


async def test_stalled_reader_is_disconnected_with_a_reason_and_resumes(server_factory) -> None:
    srv = server_factory(outbox_budget=BUDGET, stall_timeout=1.0, **FAST)
    reader = client_for(srv, unique("slow"))
    await reader.start()
    raw: list[Any] = []
    reader.on_event(raw.append)
    async with logged_in(srv) as sender:
        pause_reading(reader)
        filler = "y" * 1020
        await send_all(sender, "general", [(f"{i} {filler}", 2) for i in range(500)])
        await wait_for_log(srv, "stalled reader", 10)
        resume_reading(reader)
        # sent while the reader reconnects: it must get this one too
        last = await sender.send("general", "after the disconnect")
        got = await messages_upto(reader, last.seq, 20)
    byes = [e for e in raw if isinstance(e, Bye)]
    await reader.close()
    assert [b.code for b in byes] == ["slow_reader"]
    assert "not reading for 1 seconds" in byes[0].reason
    assert [m.seq for m in got] == list(range(1, last.seq + 1))


async def test_fifty_stalled_readers_cost_bounded_memory_and_lose_nothing(server_factory) -> None:
    srv = server_factory(outbox_budget=BUDGET, stall_timeout=60.0, **FAST)
    assert srv.proc is not None
    slow = [client_for(srv, unique("slow")) for _ in range(50)]
    active = [client_for(srv, unique("active")) for _ in range(2)]
    await asyncio.gather(*(c.start() for c in slow + active))
    raw: dict[Client, list[Any]] = {c: [] for c in slow + active}
    for c in slow + active:
        c.on_event(raw[c].append)
    for c in slow:
        pause_reading(c)
    n, text = 500, "z" * 4000  # 2 MB of traffic, 100 MB of catching up
    listening = [asyncio.create_task(messages_upto(c, n, 30)) for c in active]
    base = peak = rss_kib(srv.proc.pid)
    async with logged_in(srv) as sender:
        for start in range(0, n, 25):  # steady traffic: 25 messages in flight at a time
            await send_all(
                sender, "general", [(f"{i} {text}", 2) for i in range(start, start + 25)]
            )
            peak = max(peak, rss_kib(srv.proc.pid))
        heard = await asyncio.gather(*listening)
    peak = max(peak, rss_kib(srv.proc.pid))
    # The stated bound: the outboxes may hold 50 x 64 KiB, the transports 50 x
    # 64 KiB more; with allocator and SQLite cache slack, under 16 MiB in all.
    # (Had each stalled reader's backlog been kept, 50 readers would pin 2 MB
    # each in transport copies alone.)
    assert peak - base < 16 * 1024, (base, peak)
    for c, got in zip(active, heard, strict=True):
        assert [m.seq for m in got] == list(range(1, n + 1))
        assert not [e for e in raw[c] if isinstance(e, Gap)]  # they kept up: nothing skipped
    # Half read again, half lose their connection and reconnect; all catch up.
    for c in slow[:25]:
        resume_reading(c)
    tokens = {c: c.token for c in slow}
    for c in slow[25:]:
        assert c._stream is not None
        c._stream.transport.abort()
        resume_reading(c)
    results = await asyncio.gather(*(messages_upto(c, n, 60) for c in slow))
    for got in results:
        assert [m.seq for m in got] == list(range(1, n + 1))
    for c in slow[:25]:  # live delivery stopped at the budget and the gap was announced
        assert [e for e in raw[c] if isinstance(e, Gap) and e.room == "general"]
        assert c.token == tokens[c]
    for c in slow[25:]:  # these resumed with a new session
        assert c.token != tokens[c]
    await asyncio.gather(*(c.close() for c in slow + active))
