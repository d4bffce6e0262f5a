"""Chat latency during bulk: messages reach a client while it pulls bulk data on the same connection.

One client ("down") keeps a window of bulk requests in flight on its
connection while another account ("boss", level urgent) sends it direct
messages at a steady rate, alternating urgent and normal. The receiver
timestamps each message as it decodes it; the delay from just before the
sender's write to that moment is the delivery latency (it includes storing
the message: a message is delivered only once stored; the sender's store
acknowledgement delay is reported beside it). The same run is made with the
priority outbox and with the first-in-first-out switch (config
``fifo_outbox = true``), side by side, with the receiver reading as fast as
it can (the server is the bottleneck, little queues anywhere) and reading at
the pace of a 100 MiB/s link (the download saturates the link, and the
backlog forms at the server). Targets with priorities: urgent p99 < 10 ms,
normal p99 < 50 ms.

STAND-IN FOR FILE DOWNLOAD: the file-transfer feature is not on this branch
yet, so the bulk stream is history replay, which the server also queues in
the bulk class: the client keeps WINDOW requests for pages of PAGE messages
of 16 KB (about 64 KiB per reply, the size of a file chunk) in flight, over
and over through a pre-filled room (general, before the receiver joins).
When file download lands, replace ``request`` (and the reply handling next
to it) with the chunks of a 1 GiB file download (see docs/priority.md,
"Tests and benchmarks"); the rest stays as is.

    python bench/chat_during_bulk.py [--seconds 8] [--rate 100] [--link 0 --link 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import subprocess
import sys
import time
from typing import Any

from prio_common import HOST, PASSWORD, percentile, raw_login, roost_server, uptime
from roost.protocol.codec import client_decoder, encode
from roost.protocol.messages import PROTOCOL_VERSION, ClientHello, History, Login, Message, Ok, Send

ARCHIVE = 1000  # messages of 16 KB in the room the bulk stream replays
TEXT = 16000  # characters per archived message (max_text is 16384)
PAGE = 4  # messages per bulk reply: about 64 KiB, like a file chunk
WINDOW = 16  # bulk requests in flight: 1 MiB, like a download's TCP window
LINK_BUFFER = 128 * 1024


async def fill_archive(port: int) -> None:
    reader, writer = await raw_login(port, "archivist")
    for i in range(ARCHIVE):
        writer.write(encode(Send(id=2, to="general", text=f"{i:05d} " + "a" * (TEXT - 6))))
        if i % 50 == 49:
            await writer.drain()
    await writer.drain()
    got = 0  # acks: once all have come, everything is stored
    while got < ARCHIVE:
        data = await asyncio.wait_for(reader.read(1 << 20), 30)
        if not data:
            raise RuntimeError("archive filler disconnected")
        got += data.count(b"\xa1t\xa2ok")
    writer.close()


async def receive(port: int, seconds: float, rate: float, link: float) -> dict[str, Any]:
    """The receiving client: bulk requests kept in flight, chat timed as it is decoded.

    A raw connection, so that reading can be paced like a network link of
    ``link`` MiB/s (0: as fast as it can), where a download saturates the link
    and the backlog forms at the server.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if link:
        # A link holds about its bandwidth-delay product (here 128 KiB, 1.25 ms
        # at 100 MiB/s); beyond that a backlog waits at the sender, the server.
        # Without this the receiver's kernel buffer would grow to hold it all.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, LINK_BUFFER)
    sock.connect((HOST, port))
    sock.setblocking(False)
    decoder = client_decoder()
    sock.sendall(encode(ClientHello(version=PROTOCOL_VERSION)))
    sock.sendall(encode(Login(id=1, user="down", password=PASSWORD, register=True)))
    while not any(
        getattr(m, "id", None) == 1 for m in decoder.feed(await loop.sock_recv(sock, 1 << 16))
    ):
        pass
    lat: dict[int, list[float]] = {0: [], 2: []}
    moved = 0
    pages = itertools.count()

    def request(request_id: int) -> bytes:
        """STAND-IN for the next chunk of a file download (see the module docstring)."""
        after = next(pages) * PAGE % ARCHIVE
        return encode(
            History(id=request_id, room="general", after=after, before=after + PAGE + 1, limit=PAGE)
        )

    await loop.sock_sendall(sock, b"".join(request(100 + k) for k in range(WINDOW)))
    sender = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--send-to",
            str(port),
            "--seconds",
            str(seconds + 1.5),
            "--rate",
            str(rate),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        start = time.monotonic()
        t0 = start + 1.0  # warm up
        t1 = t0 + seconds
        m0 = 0
        read = 0
        while (now := time.monotonic()) < t1:
            if link:  # pace reading like a link of `link` MiB/s
                ahead = read / (link * 2**20) - (now - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 10)
            if not data:
                raise RuntimeError("the server closed the connection")
            read += len(data)
            arrived = time.monotonic_ns()
            again = []
            for msg in decoder.feed(data):
                if isinstance(msg, Message) and msg.sender == "boss":
                    if t0 <= time.monotonic():
                        sent_ns, _ = msg.text.split(" ", 1)
                        lat[msg.priority].append((arrived - int(sent_ns)) / 1e6)
                elif isinstance(msg, Ok) and msg.id >= 100:
                    again.append(request(msg.id))
            moved += len(data)
            if not m0 and time.monotonic() >= t0:
                m0 = moved
            if again:
                await loop.sock_sendall(sock, b"".join(again))
        out, _ = await asyncio.to_thread(sender.communicate, timeout=20)
        acks: list[float] = json.loads(out or b"[]")
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
        sock.close()
    return {
        "bulk_mib_per_s": round((moved - m0) / seconds / 2**20, 1),
        **{
            f"{name}_{stat}_ms": round(percentile(lat[level], pct), 2)
            for name, level in (("urgent", 0), ("normal", 2))
            for stat, pct in (("p50", 50), ("p99", 99))
        },
        "store_ack_p50_ms": round(percentile(acks, 50), 2),
        "store_ack_p99_ms": round(percentile(acks, 99), 2),
        "samples": {"urgent": len(lat[0]), "normal": len(lat[2])},
    }


async def send_chat(port: int, seconds: float, rate: float) -> None:
    """The sender process: direct messages to "down", urgent and normal in turn.

    Prints the store acknowledgement delays (ms) as JSON: the part of the
    delivery latency spent before the message is stored and fanned out.
    """
    reader, writer = await raw_login(port, "boss")
    sent: dict[int, int] = {}
    acks: list[float] = []

    async def replies() -> None:
        decoder = client_decoder()
        while data := await reader.read(1 << 20):
            for msg in decoder.feed(data):
                if isinstance(msg, Ok) and msg.id in sent:
                    acks.append((time.monotonic_ns() - sent.pop(msg.id)) / 1e6)

    sink = asyncio.create_task(replies())
    interval = 1.0 / rate
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop:
        level = 0 if n % 2 == 0 else 2
        now = time.monotonic_ns()
        writer.write(encode(Send(id=n + 1, to="@down", text=f"{now} {n}", priority=level)))
        sent[n + 1] = now
        n += 1
        await asyncio.sleep(interval)
    await asyncio.sleep(0.5)
    sink.cancel()
    writer.close()
    print(json.dumps(acks[len(acks) // 8 :]))  # without the warm-up


async def measure(fifo: bool, seconds: float, rate: float, link: float) -> dict[str, Any]:
    config = {"fifo_outbox": fifo, "stall_timeout": 3600.0}
    with roost_server(config, users={"boss": "urgent"}) as (port, _pid):
        await fill_archive(port)
        res = await receive(port, seconds, rate, link)
    return {"outbox": "fifo" if fifo else "priority", "link_mib_s": link or "none", **res}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages per second")
    parser.add_argument(
        "--link",
        type=float,
        action="append",
        help="receiver's read pace in MiB/s, 0 for none (repeatable; default: 0 and 100)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--send-to", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)
    rate = min(args.rate, 1000.0)
    if args.send_to:
        await send_chat(args.send_to, seconds, rate)
        return
    load = uptime()
    for link in args.link or [0.0, 100.0]:
        for fifo in (False, True):
            row = await measure(fifo, seconds, rate, link)
            print(json.dumps(row) if args.json else row, flush=True)
    print(f"load before: {load}\nload after:  {uptime()}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
