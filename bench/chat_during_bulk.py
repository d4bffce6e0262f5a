"""Chat latency during bulk: messages reach a client while it pulls bulk data on the same connection.

One client ("down") keeps a window of bulk requests in flight on its
connection while another account ("boss", level urgent) sends it direct
messages at a steady rate, alternating urgent and normal. The receiver
timestamps each message as it arrives (the SDK's on_event, before any
ordering); the delay from just before the sender's write to that moment is
the delivery latency. The same run is made with the priority outbox and with
the first-in-first-out switch (config ``fifo_outbox = true``), side by side.
Targets with priorities: urgent p99 < 10 ms, normal p99 < 50 ms.

STAND-IN FOR FILE DOWNLOAD: the file-transfer feature is not on this branch
yet, so the bulk stream is history replay, which the server also queues in
the bulk class: the client keeps WINDOW requests for pages of PAGE messages
of 1 KiB (about 64 KiB per reply, the size of a file chunk) in flight, over
and over through a pre-filled room (general, before the receiver joins). When file download lands, replace
``bulk_worker`` with a download of a 1 GiB file through ``roost.client``
(see docs/priority.md, "Benchmarks"); the rest stays as is.

    python bench/chat_during_bulk.py [--seconds 8] [--rate 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from prio_common import HOST, PASSWORD, percentile, raw_login, roost_server, uptime
from roost.client import Client, Message
from roost.protocol.codec import encode
from roost.protocol.messages import Send

ARCHIVE = 4000  # messages of 1 KiB in the room the bulk stream replays
PAGE = 60  # messages per bulk reply: about 64 KiB, like a file chunk
WINDOW = 16  # bulk requests in flight: 1 MiB, like a download's window


async def fill_archive(port: int) -> None:
    reader, writer = await raw_login(port, "archivist")
    for i in range(ARCHIVE):
        writer.write(encode(Send(id=2, to="general", text=f"{i:05d} " + "a" * 1018)))
        if i % 200 == 199:
            await writer.drain()
    await writer.drain()
    got = 0  # acks: once all have come, everything is stored
    while got < ARCHIVE:
        data = await asyncio.wait_for(reader.read(1 << 20), 30)
        if not data:
            raise RuntimeError("archive filler disconnected")
        got += data.count(b"\xa1t\xa2ok")
    writer.close()


async def bulk_worker(client: Client, stop: float, moved: list[int]) -> None:
    """Stand-in for a file download: history pages of ~64 KiB, back to back."""
    after = 0
    while time.monotonic() < stop:
        page = await client.history_page("general", after, after + PAGE + 1, PAGE)
        moved[0] += sum(len(m.text) + 40 for m in page.messages)
        after = 0 if after + PAGE >= ARCHIVE else after + PAGE


async def receive(port: int, seconds: float, rate: float) -> dict[str, Any]:
    client = Client(HOST, port, "down", PASSWORD, register=True, reconnect=False)
    await client.start()
    lat: dict[int, list[float]] = {0: [], 2: []}
    measuring = [False]

    def arrived(ev: Any) -> None:
        if isinstance(ev, Message) and ev.sender == "boss" and measuring[0]:
            sent_ns, _ = ev.text.split(" ", 1)
            lat[ev.priority].append((time.monotonic_ns() - int(sent_ns)) / 1e6)

    client.on_event(arrived)
    drain = asyncio.create_task(_drain(client))
    stop = time.monotonic() + seconds + 1.0
    moved = [0]
    workers = [asyncio.create_task(bulk_worker(client, stop, moved)) for _ in range(WINDOW)]
    sender = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--send-to",
            str(port),
            "--seconds",
            str(seconds + 1.0),
            "--rate",
            str(rate),
        ]
    )
    try:
        await asyncio.sleep(1.0)  # warm up
        measuring[0] = True
        m0, t0 = moved[0], time.monotonic()
        await asyncio.sleep(seconds)
        measuring[0] = False
        m1, t1 = moved[0], time.monotonic()
        await asyncio.gather(*workers)
    finally:
        if sender.poll() is None:
            sender.wait(10)
        drain.cancel()
        await client.close()
    return {
        "bulk_mib_per_s": round((m1 - m0) / (t1 - t0) / 2**20, 1),
        **{
            f"{name}_{stat}_ms": round(percentile(lat[level], pct), 2)
            for name, level in (("urgent", 0), ("normal", 2))
            for stat, pct in (("p50", 50), ("p99", 99))
        },
        "samples": {"urgent": len(lat[0]), "normal": len(lat[2])},
    }


async def _drain(client: Client) -> None:
    async for _ in client.events():
        pass


async def send_chat(port: int, seconds: float, rate: float) -> None:
    """The sender process: direct messages to "down", urgent and normal in turn."""
    reader, writer = await raw_login(port, "boss")

    async def discard() -> None:
        while await reader.read(1 << 20):
            pass

    sink = asyncio.create_task(discard())
    interval = 1.0 / rate
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop:
        level = 0 if n % 2 == 0 else 2
        text = f"{time.monotonic_ns()} {n}"
        writer.write(encode(Send(id=n + 1, to="@down", text=text, priority=level)))
        n += 1
        await asyncio.sleep(interval)
    sink.cancel()
    writer.close()


async def measure(fifo: bool, seconds: float, rate: float) -> dict[str, Any]:
    config = {"fifo_outbox": fifo, "stall_timeout": 3600.0}
    with roost_server(config, users={"boss": "urgent"}) as (port, _pid):
        await fill_archive(port)
        res = await receive(port, seconds, rate)
    return {"outbox": "fifo" if fifo else "priority", **res}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages per second")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--send-to", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)
    rate = min(args.rate, 1000.0)
    if args.send_to:
        await send_chat(args.send_to, seconds, rate)
        return
    load = uptime()
    rows = [await measure(fifo, seconds, rate) for fifo in (False, True)]
    for row in rows:
        print(json.dumps(row) if args.json else row, flush=True)
    print(f"load before: {load}\nload after:  {uptime()}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
