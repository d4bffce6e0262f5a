"""Room load shared by the fan-out, latency and durability benchmarks.

One room, N receivers that only count, S senders. Two systems speak it:
``roost`` (our protocol, ``Send`` requests acknowledged with ``ok``) and
``irc`` (``PRIVMSG`` to a channel; a ``PING`` after every IRC_BATCH lines
stands in for the acknowledgement, so both keep a bounded window in flight).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from common import (
    HOST,
    IRC_MSG,
    PASSWORD,
    ROOST_ERR,
    ROOST_GAP,
    ROOST_MSG,
    ROOST_OK,
    TEXT_SIZE,
    Counter,
    Workers,
    adopt,
    cpu_seconds,
    gateway_session,
    irc_session,
    percentile,
    rate_between,
    recv_pipe,
    resume_lazy,
    roost_session,
    sample_timeline,
    stamped_text,
)
from roost.client import Client, Message
from roost.protocol.codec import encode
from roost.protocol.messages import Send

IRC_BATCH = 16
# The paced senders wake once a millisecond (uvloop timers have 1 ms resolution;
# a shorter sleep returns at once and the sender would spin a core of its own).
PACE_TICK = 0.001
ROOST_ROOM = "general"  # every account is in it from registration on
IRC_CHANNEL = "#bench"


@dataclass
class RoomLoad:
    system: str  # "roost" | "irc"
    port: int
    receivers: int = 100
    senders: int = 4
    receiver_procs: int = 2
    window: int = 128  # messages in flight per sender
    duration: float = 5.0  # seconds of sending
    max_messages: int = 2_000_000  # per sender, a bound besides the duration
    rate: float = 0.0  # msgs/s over all senders; 0: as fast as the window allows
    stamp_every: int = 0  # every k-th receiver records latency samples (0: none)
    prefix: str = "b"
    irc_port: int = 0  # roost: the receivers connect to this IRC gateway port instead
    # roost: several nodes of one cluster; receiver and sender i connect to ports[i % n]
    ports: tuple[int, ...] = ()
    # "ws": receivers come through the web gateway's WebSocket on web_port (bench/web.py);
    # "sdk": each receiver is a roost.client.Client reading events() (bench/sdk_receive.py)
    receivers_over: str = "tcp"
    web_port: int = 0

    def port_for(self, i: int) -> int:
        return self.ports[i % len(self.ports)] if self.ports else self.port


async def _connect_receivers(load: RoomLoad, first: int, count: int) -> list[Counter]:
    counters: list[Counter] = []

    async def one(i: int) -> Counter:
        stamps = bool(load.stamp_every) and i % load.stamp_every == 0
        # At a paced rate the receivers that do not measure read in batches.
        lazy = load.rate > 0 and not stamps
        if load.system == "roost" and load.receivers_over == "sdk":
            return await sdk_counter(load.port_for(i), f"{load.prefix}r{i}")
        if load.system == "roost" and load.receivers_over == "ws":
            from wsclient import ws_counter

            c = await ws_counter(load.web_port, f"{load.prefix}r{i}", Counter(ROOST_MSG, stamps))
            c.watch(ROOST_GAP)
            return c
        if load.irc_port:
            _, writer = await gateway_session(load.irc_port, f"{load.prefix}r{i}")
            c = Counter(IRC_MSG, stamps, lazy)
        elif load.system == "roost":
            _, writer, _ = await roost_session(load.port_for(i), f"{load.prefix}r{i}")
            c = Counter(ROOST_MSG, stamps, lazy)
            c.watch(ROOST_GAP)
        else:
            _, writer = await irc_session(load.port, f"{load.prefix}r{i}", [IRC_CHANNEL])
            c = Counter(IRC_MSG, stamps, lazy)
        adopt(writer, c)
        return c

    sem = asyncio.Semaphore(16)

    async def limited(i: int) -> Counter:
        async with sem:
            return await one(i)

    counters = list(await asyncio.gather(*(limited(i) for i in range(first, first + count))))
    return counters


async def receiver_worker(pipe: Connection, load: RoomLoad, first: int, count: int) -> None:
    counters = await _connect_receivers(load, first, count)
    lazy = resume_lazy(counters)
    pipe.send({"ready": count})
    timeline: list[tuple[int, int]] = []
    sampler: asyncio.Task[None] | None = None
    while True:
        cmd = await recv_pipe(pipe)
        if cmd == "go":
            for c in counters:
                c.count = 0
                c.samples.clear()
                for m in c.other:
                    c.other[m] = 0
            sampler = sample_timeline(counters, timeline)
            pipe.send("going")
        elif cmd == "poll":
            pipe.send(sum(c.count for c in counters))
        elif cmd == "stop":
            if sampler is not None:
                sampler.cancel()
            samples = [s for c in counters for s in c.samples]
            pipe.send(
                {
                    "timeline": timeline,
                    "counts": [c.count for c in counters],
                    "gaps": sum(c.other.get(ROOST_GAP, 0) for c in counters),
                    "closed": sum(c.closed for c in counters),
                    "samples": samples,
                }
            )
            lazy.cancel()
            for c in counters:
                if isinstance(c, SdkCounter):
                    await c.close()
                elif c.transport is not None:
                    c.transport.close()
            return


class SdkCounter(Counter):
    """A receiver that is the real SDK: a ``Client`` whose ``events()`` is read to
    the end, counting the room's messages (what an application sees, in order,
    gaps filled from history), not bytes on the wire."""

    def __init__(self, client: Client) -> None:
        super().__init__(ROOST_MSG)
        self.client = client
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for ev in self.client.events():
                if type(ev) is Message and ev.room == ROOST_ROOM:
                    self.count += 1
        finally:
            self.closed = True

    async def close(self) -> None:
        self.task.cancel()
        await self.client.close()


async def sdk_counter(port: int, user: str) -> SdkCounter:
    client = Client(HOST, port, user, PASSWORD, register=True)
    await client.start()
    return SdkCounter(client)


class PipelineSender(Counter):
    """Sends up to ``window`` messages ahead of the acknowledgements it has seen."""

    def __init__(self, load: RoomLoad, index: int) -> None:
        ack = ROOST_OK if load.system == "roost" else b" PONG "
        super().__init__(ack, lazy=load.rate > 0)
        if load.system == "roost":
            self.watch(ROOST_ERR)
        self.load = load
        self.index = index
        self.sent = 0
        self.padding = 0  # IRC: acknowledgement slots that carried no message
        self.running = False
        self.finishing = False
        self.next_id = 100
        self.done = asyncio.get_running_loop().create_future()
        self.text = "x" * TEXT_SIZE

    @property
    def acked(self) -> int:
        return self.count * (IRC_BATCH if self.load.system == "irc" else 1)

    def batch(self, n: int, text: str | None = None) -> bytes:
        if self.load.system == "roost":
            parts = []
            for _ in range(n):
                self.next_id += 1
                parts.append(encode(Send(id=self.next_id, to=ROOST_ROOM, text=text or self.text)))
            self.sent += n
            return b"".join(parts)
        # IRC: whole batches of IRC_BATCH lines, each followed by a PING.
        out = []
        for _ in range(n // IRC_BATCH):
            line = f"PRIVMSG {IRC_CHANNEL} :{text or self.text}\r\n"
            out.append(line * IRC_BATCH + f"PING :{self.sent}\r\n")
            self.sent += IRC_BATCH
        return "".join(out).encode()

    def top_up(self) -> None:
        if not self.running or self.transport is None:
            return
        room = min(self.load.window - (self.sent - self.acked), self.load.max_messages - self.sent)
        if self.load.system == "irc":
            room -= room % IRC_BATCH
        if room > 0:
            self.transport.write(self.batch(room))

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.top_up()
        if self.finishing and self.acked >= self.sent and not self.done.done():
            self.done.set_result(None)


async def sender_worker(pipe: Connection, load: RoomLoad, first: int, count: int) -> None:
    senders: list[PipelineSender] = []
    for i in range(first, first + count):
        if load.system == "roost":
            _, writer, _ = await roost_session(load.port_for(i), f"{load.prefix}s{i}")
        else:
            _, writer = await irc_session(load.port, f"{load.prefix}s{i}", [IRC_CHANNEL], oper=True)
        s = PipelineSender(load, i)
        adopt(writer, s)
        senders.append(s)
    lazy = resume_lazy(list(senders))
    pipe.send({"ready": count})
    assert await recv_pipe(pipe) == "go"
    t0 = time.monotonic_ns()
    if load.rate > 0:
        await _paced(senders, load)
    else:
        for s in senders:
            s.running = True
            s.top_up()
        await asyncio.sleep(load.duration)
    t1 = time.monotonic_ns()
    for s in senders:
        s.running = False
        s.finishing = True
        if load.system == "irc" and s.sent % IRC_BATCH and s.transport is not None:
            # Round up to a whole batch so the last PONG covers the last lines.
            s.padding = IRC_BATCH - s.sent % IRC_BATCH
            s.sent += s.padding
            s.transport.write(f"PING :{s.sent}\r\n".encode())
        if s.acked >= s.sent and not s.done.done():
            s.done.set_result(None)
    # Bounded wait for the last acknowledgements.
    await asyncio.wait([s.done for s in senders], timeout=5)
    lazy.cancel()
    pipe.send(
        {
            "t0": t0,
            "t1": t1,
            "sent": sum(s.sent - s.padding for s in senders),
            "acked": sum(min(s.acked, s.sent - s.padding) for s in senders),
            "errors": sum(s.other.get(ROOST_ERR, 0) for s in senders),
        }
    )


async def _paced(senders: list[PipelineSender], load: RoomLoad) -> None:
    """A steady rate over all senders, each message stamped with its send time."""
    start = time.monotonic()
    total = 0
    turn = 0
    limit = min(int(load.rate * load.duration), load.max_messages * len(senders))
    unit = IRC_BATCH if load.system == "irc" else 1
    while total < limit:
        elapsed = time.monotonic() - start
        if elapsed > load.duration + 5:
            break  # cannot keep up; stop anyway
        due = min(int(elapsed * load.rate), limit) - total
        while due >= 1:
            s = senders[turn % len(senders)]
            turn += 1
            if load.system == "roost":
                data = s.batch(1, stamped_text(time.monotonic_ns()))
            else:
                # One stamped line per message; a PING per IRC_BATCH keeps the counts comparable.
                line = f"PRIVMSG {IRC_CHANNEL} :{stamped_text(time.monotonic_ns())}\r\n"
                s.sent += 1
                data = line.encode() + (
                    f"PING :{s.sent}\r\n".encode() if s.sent % unit == 0 else b""
                )
            assert s.transport is not None
            s.transport.write(data)
            total += 1
            due -= 1
        await asyncio.sleep(PACE_TICK)


def run_room_load(
    load: RoomLoad,
    settle: float = 0.5,
    warmup: float = 0.5,
    on_go: Callable[[], None] | None = None,
    server_pid: int | None = None,
    on_sent: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run one room load against a server already listening on ``load.port``.

    ``on_go`` is called as the senders start (to attach a profiler, say), and
    ``on_sent`` as they have all finished (before the deliveries drain).
    With ``server_pid``, the server's CPU use while the senders run is reported.
    """
    cpu0 = cpu1 = clients0 = clients1 = receivers0 = receivers1 = 0.0
    sent_done = drained = 0.0
    workers = Workers()
    try:
        per = -(-load.receivers // load.receiver_procs)
        recv_pipes = []
        for first in range(0, load.receivers, per):
            recv_pipes.append(
                workers.start(receiver_worker, load, first, min(per, load.receivers - first))
            )
        n_recv_procs = len(workers.procs)
        send_pipe = workers.start(sender_worker, load, 0, load.senders)
        workers.gather(timeout=120)
        time.sleep(settle)  # presence and join notices of the setup die down
        workers.send("go", recv_pipes)
        workers.gather(recv_pipes)
        workers.send("go", [send_pipe])
        pids = [p.pid for p in workers.procs if p.pid is not None]
        recv_pids = [p.pid for p in workers.procs[:n_recv_procs] if p.pid is not None]
        clients0 = sum(cpu_seconds(pid) for pid in pids)
        receivers0 = sum(cpu_seconds(pid) for pid in recv_pids)
        if server_pid is not None:
            cpu0 = cpu_seconds(server_pid)
        if on_go is not None:
            on_go()
        (sent,) = workers.gather([send_pipe], timeout=load.duration + 60)
        if on_sent is not None:
            on_sent()
        if server_pid is not None:
            cpu1 = cpu_seconds(server_pid)
        clients1 = sum(cpu_seconds(pid) for pid in pids)
        receivers1 = sum(cpu_seconds(pid) for pid in recv_pids)
        # Wait until deliveries stop growing (bounded): how long the receivers
        # take to catch up once the senders are done tells whether they kept up.
        last = -1
        sent_done = time.monotonic()
        drained = sent_done
        deadline = sent_done + 15
        while time.monotonic() < deadline:
            time.sleep(0.25)
            workers.send("poll", recv_pipes)
            now = sum(workers.gather(recv_pipes))
            if now == last:
                break
            last = now
            drained = time.monotonic()
        workers.send("stop", recv_pipes)
        recv = workers.gather(recv_pipes)
    finally:
        workers.stop()
    t0 = sent["t0"] + int(warmup * 1e9)
    t1 = sent["t1"]
    rate = rate_between([r["timeline"] for r in recv], t0, t1)
    counts = [c for r in recv for c in r["counts"]]
    samples = [s for r in recv for s in r["samples"]]
    out: dict[str, Any] = {
        "system": load.system + ("+irc-receivers" if load.irc_port else ""),
        "receivers": load.receivers,
        "senders": load.senders,
        "window": load.window,
        "duration": round((sent["t1"] - sent["t0"]) / 1e9, 3),
        "sent": sent["sent"],
        "acked": sent["acked"],
        "errors": sent["errors"],
        "deliveries_per_s": round(rate),
        "msgs_per_s": round(rate / load.receivers),
        "delivered_min": min(counts),
        "delivered_max": max(counts),
        "complete": min(counts) >= sent["sent"],
        "gaps": sum(r["gaps"] for r in recv),
        "closed": sum(r["closed"] for r in recv),
    }
    span = max(1e-9, (sent["t1"] - sent["t0"]) / 1e9)
    out["clients_cpu"] = round((clients1 - clients0) / span, 2)
    out["receivers_cpu"] = round((receivers1 - receivers0) / span, 2)
    # Seconds the deliveries kept growing after the last send was acknowledged
    # (within the 0.25 s polling step; 0 means caught up at the first look).
    out["catch_up_s"] = round(drained - sent_done, 2)
    if server_pid is not None:
        out["server_cpu"] = round((cpu1 - cpu0) / span, 2)
        # Server CPU time per delivery: less sensitive to a busy machine than rates.
        out["server_ns_per_delivery"] = round((cpu1 - cpu0) / span / max(1.0, rate) * 1e9)
    if samples:
        ms = [s / 1e6 for s in samples]
        out["latency_ms"] = {
            "samples": len(ms),
            "p50": round(percentile(ms, 50), 3),
            "p99": round(percentile(ms, 99), 3),
            "max": round(max(ms), 3),
        }
    return out
