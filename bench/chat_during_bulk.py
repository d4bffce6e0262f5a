"""Chat latency during bulk: messages reach a client while it downloads a 1 GiB file.

One client ("down", the real SDK ``Client``) uploads a file of ``--size-mib``
(1 GiB) once, then downloads it, ``--downloads`` times in a row, on its one
connection, while another account ("boss", level urgent, in a separate
process) sends it direct messages at a steady rate (``--rate``, 200/s),
alternating urgent and normal. The receiver timestamps each message as its
read loop decodes it (``Client.on_event``); the delay from just before the
sender's write to that moment is the delivery latency. It includes storing
the message (a message is delivered only once stored); the sender's store
acknowledgement delay is reported beside it. Only messages sent while a
download is running count; those of the second before the first download
are reported as the "idle" baseline (the same path with no file moving).

The same is done with the priority outbox and with the first-in-first-out
switch (config ``fifo_outbox = true``), and with the receiving client's
socket buffer left to the kernel's autotuning and bounded by the SDK's
``recv_buffer`` (``--recv-kib``, default both 0 and 256), in alternating
rounds (``--rounds``), each in a fresh server. ``--window-kib`` sets the
client's ``download_window`` (repeatable; default: the SDK's default, 1 MiB;
0 for no window, the behaviour before it). Targets with priorities:
urgent p99 < 10 ms, normal p99 < 50 ms.

The history-replay stand-in of the first version is gone: the download is
the bulk stream now, and replay goes through the same bulk class.

Bounded: every download and the sender have time limits; loopback only; each
server is started and stopped by its PID (bench/prio_common.py), with the
moderation rate limits off and ``max_file_size``/``user_quota`` raised to fit
the file. All files (source, blob store, downloads) live in temporary folders
on tmpfs (/dev/shm) when it has room, else in the default temp folder, and are
deleted as soon as they are not needed.

    python bench/chat_during_bulk.py [--rounds 3] [--size-mib 1024] [--downloads 3]
        [--rate 200] [--recv-kib 0 --recv-kib 256] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import PASSWORD, percentile
from file_transfer import make_source
from prio_common import raw_login, roost_server, uptime
from roost.client import Client
from roost.client.connection import DOWNLOAD_WINDOW
from roost.protocol.codec import client_decoder, encode
from roost.protocol.messages import Message, Ok, Send

MiB = 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0  # per download of the file
IDLE = 1.0  # seconds of chat before the first download: the baseline


def scratch_parent(need: int) -> str | None:
    """tmpfs when it has room for ``need`` bytes (plus a margin), else the default temp dir."""
    if os.path.isdir("/dev/shm"):
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > need + 512 * MiB:
            return "/dev/shm"
    return None


async def receive(
    port: int,
    tmp: Path,
    size: int,
    downloads: int,
    rate: float,
    recv_buffer: int,
    window: int = DOWNLOAD_WINDOW,
) -> dict[str, Any]:
    """The receiving client: upload once, then download while timing the chat it decodes."""
    client = Client(
        "127.0.0.1",
        port,
        "down",
        PASSWORD,
        register=True,
        reconnect=False,
        recv_buffer=recv_buffer,
        download_window=window,
    )
    await client.start()
    arrivals: list[tuple[int, int, int]] = []  # (sent ns, arrived ns, priority)

    def on_event(ev: Any) -> None:
        if isinstance(ev, Message) and ev.sender == "boss":
            arrivals.append((int(ev.text.split(" ", 1)[0]), time.monotonic_ns(), ev.priority))

    client.on_event(on_event)

    async def consume() -> None:  # an application's loop: keeps the event queue empty
        async for _ in client.events():
            pass

    consumer = asyncio.create_task(consume())
    sender = None
    try:
        src = tmp / "source.bin"
        make_source(src, size)
        sent = await asyncio.wait_for(client.upload(src, "general"), DOWNLOAD_TIMEOUT)
        src.unlink()  # the server has its blob now
        out = tmp / "out"
        out.mkdir()
        sender = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--send-to",
            str(port),
            "--rate",
            str(rate),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # the sender logs in
        idle_from = time.monotonic_ns()
        await asyncio.sleep(IDLE)
        windows: list[tuple[int, int]] = []
        elapsed = 0.0
        for _ in range(downloads):
            t0 = time.monotonic_ns()
            saved = await asyncio.wait_for(client.download(sent.file.id, out), DOWNLOAD_TIMEOUT)
            t1 = time.monotonic_ns()
            windows.append((t0, t1))
            elapsed += (t1 - t0) / 1e9
            if saved.stat().st_size != size:
                raise RuntimeError(f"downloaded {saved.stat().st_size} of {size} bytes")
            saved.unlink()
        await asyncio.sleep(0.2)  # the last messages sent during the download arrive
        assert sender.stdin is not None
        sender.stdin.close()  # tells the sender to stop
        out_bytes, _ = await asyncio.wait_for(sender.communicate(), 20)
        acks: list[float] = json.loads(out_bytes or b"[]")
    finally:
        if sender is not None and sender.returncode is None:
            sender.kill()
            await sender.wait()
        consumer.cancel()
        await client.close()
    lat: dict[int, list[float]] = {0: [], 2: []}
    idle: list[float] = []
    for sent_ns, arrived, prio in arrivals:
        ms = (arrived - sent_ns) / 1e6
        if idle_from <= sent_ns < windows[0][0]:
            idle.append(ms)
        elif any(a <= sent_ns < b for a, b in windows):
            lat[prio].append(ms)
    return {
        "download_mib_per_s": round(downloads * size / MiB / elapsed, 1),
        **{
            f"{name}_{stat}_ms": round(percentile(lat[level], pct), 2)
            for name, level in (("urgent", 0), ("normal", 2))
            for stat, pct in (("p50", 50), ("p99", 99))
        },
        "idle_p50_ms": round(percentile(idle, 50), 2),
        "idle_p99_ms": round(percentile(idle, 99), 2),
        "store_ack_p50_ms": round(percentile(acks, 50), 2),
        "store_ack_p99_ms": round(percentile(acks, 99), 2),
        "samples": {"urgent": len(lat[0]), "normal": len(lat[2]), "idle": len(idle)},
    }


async def send_chat(port: int, rate: float) -> None:
    """The sender process: direct messages to "down", urgent and normal in turn.

    Runs until its stdin closes (at most 10 minutes). Prints the store
    acknowledgement delays (ms) as JSON: the part of the delivery latency
    spent before the message is stored and fanned out.
    """
    reader, writer = await raw_login(port, "boss")
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    stop = asyncio.create_task(stdin.read())
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
    deadline = time.monotonic() + 600
    n = 0
    next_at = time.monotonic()
    while not stop.done() and time.monotonic() < deadline:
        level = 0 if n % 2 == 0 else 2
        now = time.monotonic_ns()
        writer.write(encode(Send(id=n + 1, to="@down", text=f"{now} {n}", priority=level)))
        sent[n + 1] = now
        n += 1
        # A steady pace: a late wake-up does not slow the rate down.
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.sleep(0.3)
    sink.cancel()
    stop.cancel()
    writer.close()
    print(json.dumps(acks))


async def measure(
    fifo: bool, size: int, downloads: int, rate: float, recv_kib: int, window_kib: int
) -> dict[str, Any]:
    config = {
        "fifo_outbox": fifo,
        "stall_timeout": 3600.0,
        "max_file_size": size,
        "user_quota": 2 * size,
        "upload_timeout": 3600.0,
    }
    with (
        tempfile.TemporaryDirectory(prefix="roost-bench-bulk-", dir=scratch_parent(2 * size)) as t,
        roost_server(config, users={"boss": "urgent"}) as (port, _pid),
    ):
        res = await receive(
            port, Path(t), size, downloads, rate, recv_kib * 1024, window_kib * 1024
        )
    return {
        "outbox": "fifo" if fifo else "priority",
        "recv_kib": recv_kib or "auto",
        "window_kib": window_kib,
        **res,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, alternating")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the file")
    parser.add_argument("--downloads", type=int, default=3, help="downloads of it per run")
    parser.add_argument("--rate", type=float, default=200.0, help="chat messages per second")
    parser.add_argument(
        "--recv-kib",
        type=int,
        action="append",
        help="the receiving client's recv_buffer in KiB, 0 for the kernel's autotuning"
        " (repeatable; default: 0 and 256)",
    )
    parser.add_argument(
        "--window-kib",
        type=int,
        action="append",
        help="the receiving client's download_window in KiB, 0 for none"
        f" (repeatable; default: {DOWNLOAD_WINDOW // 1024})",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--send-to", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rate = min(max(args.rate, 1.0), 1000.0)
    if args.send_to:
        await send_chat(args.send_to, rate)
        return
    size = min(max(args.size_mib, 1), 4096) * MiB
    downloads = min(max(args.downloads, 1), 10)
    rows = []
    print(f"load before: {uptime()}", flush=True)
    recv = [min(max(k, 0), 65536) for k in args.recv_kib or [0, 256]]
    windows = [min(max(k, 0), 1 << 20) for k in args.window_kib or [DOWNLOAD_WINDOW // 1024]]
    for _ in range(min(max(args.rounds, 1), 10)):
        for win in windows:
            for kib in recv:
                for fifo in (False, True):
                    row = await measure(fifo, size, downloads, rate, kib, win)
                    rows.append(row)
                    print(json.dumps(row) if args.json else row, flush=True)
    print(f"load after:  {uptime()}")
    if not args.json:
        for win in windows:
            for kib in recv:
                for mode in ("priority", "fifo"):
                    mine = [
                        r
                        for r in rows
                        if r["outbox"] == mode
                        and r["recv_kib"] == (kib or "auto")
                        and r["window_kib"] == win
                    ]
                    for key in ("urgent_p50_ms", "urgent_p99_ms", "normal_p50_ms", "normal_p99_ms"):
                        vals = [r[key] for r in mine]
                        print(
                            f"window {win} KiB, recv {kib or 'auto'} KiB, {mode:8} {key}:"
                            f" {min(vals)} .. {max(vals)}"
                        )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
