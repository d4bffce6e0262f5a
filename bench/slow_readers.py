"""Slow readers: server RSS and active readers' deliveries/s with 0 and with 50 stalled readers.

A room carries steady traffic from pipelined senders; active readers read as
fast as they can. In the second setting 50 more members of the room are
connected and logged in but never read: their outboxes fill to the budget,
live delivery to them stops (gaps), and the server's memory must stay bounded
while the active readers keep their throughput (target: at least 90% of the
rate with none stalled). Settings alternate (0, 50, 0, 50, ...) to spread
machine noise over both.

    python bench/slow_readers.py [--rounds 2] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from common import ROOST_MSG, cpu_seconds, rss_kib
from prio_common import count_markers, raw_login, roost_server, uptime
from roost.protocol.codec import encode
from roost.protocol.messages import Send

ACTIVE = 20
SENDERS = 8
WINDOW = 48  # sends in flight per sender (the server takes up to 64)
TEXT = "t" * 200
OK_MARKER = b"\xa1t\xa2ok"
BUDGET = 256 * 1024


async def run_setting(stalled: int, seconds: float, warmup: float = 1.0) -> dict[str, Any]:
    config = {"outbox_budget": BUDGET, "stall_timeout": 3600.0}
    with roost_server(config) as (port, pid):
        idle = [await raw_login(port, f"stalled{i}") for i in range(stalled)]
        readers = [await raw_login(port, f"reader{i}") for i in range(ACTIVE)]
        senders = [await raw_login(port, f"sender{i}") for i in range(SENDERS)]
        counts = [0] * ACTIVE
        stop = time.monotonic() + warmup + seconds + 1.0  # every loop ends by then

        async def read(i: int, reader: asyncio.StreamReader) -> None:
            carry = b""
            while time.monotonic() < stop:
                data = await reader.read(256 * 1024)
                if not data:
                    return
                n, carry = count_markers(carry, data, ROOST_MSG)
                counts[i] += n

        async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            frame = encode(Send(id=7, to="general", text=TEXT))
            acked = 0
            sent = 0
            carry = b""
            writer.write(frame * WINDOW)
            sent = WINDOW
            while time.monotonic() < stop:
                data = await reader.read(256 * 1024)
                if not data:
                    return
                n, carry = count_markers(carry, data, OK_MARKER)
                acked += n
                if sent - acked < WINDOW // 2:
                    writer.write(frame * (WINDOW - (sent - acked)))
                    sent += WINDOW - (sent - acked)

        tasks = [asyncio.create_task(read(i, r)) for i, (r, _) in enumerate(readers)]
        tasks += [asyncio.create_task(send(r, w)) for r, w in senders]
        base_rss = rss_kib(pid)
        await asyncio.sleep(warmup)
        c0, t0, cpu0 = sum(counts), time.monotonic(), cpu_seconds(pid)
        me0 = time.process_time()
        peak = rss_kib(pid)
        while time.monotonic() < t0 + seconds:
            await asyncio.sleep(0.1)
            peak = max(peak, rss_kib(pid))
        c1, t1, cpu1 = sum(counts), time.monotonic(), cpu_seconds(pid)
        me1 = time.process_time()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, w in idle + readers + senders:
            w.close()
        rate = (c1 - c0) / (t1 - t0)
        return {
            "stalled": stalled,
            "deliveries_per_s": round(rate),
            "messages_per_s": round(rate / ACTIVE),
            "server_rss_mib_start": round(base_rss / 1024, 1),
            "server_rss_mib_peak": round(peak / 1024, 1),
            "server_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0)),
            "bench_cpu_pct": round(100 * (me1 - me0) / (t1 - t0)),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stalled", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="one JSON object per setting")
    args = parser.parse_args()
    load = uptime()
    results: list[dict[str, Any]] = []
    for _ in range(max(1, min(args.rounds, 5))):
        for stalled in (0, args.stalled):
            res = await run_setting(stalled, min(args.seconds, 30.0))
            results.append(res)
            print(json.dumps(res) if args.json else res, flush=True)
    by = {
        s: [r["deliveries_per_s"] for r in results if r["stalled"] == s] for s in (0, args.stalled)
    }
    ratio = statistics.mean(by[args.stalled]) / statistics.mean(by[0])
    peak = max(r["server_rss_mib_peak"] for r in results if r["stalled"])
    print(
        f"active readers: {ACTIVE}, senders: {SENDERS}, outbox_budget: {BUDGET // 1024} KiB\n"
        f"deliveries/s with 0 stalled: {statistics.mean(by[0]):.0f}, "
        f"with {args.stalled} stalled: {statistics.mean(by[args.stalled]):.0f} "
        f"({100 * ratio:.0f}%, target >= 90%)\n"
        f"server RSS peak with {args.stalled} stalled: {peak} MiB\n"
        f"load before: {load}\nload after:  {uptime()}"
    )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
