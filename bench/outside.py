"""Measured from outside: a load generator written from docs/protocol.md alone.

It does not use Roost's SDK (``roost.client``) nor its codec for its
traffic: frames are a 4-byte big-endian length and a msgpack map
(docs/protocol.md, section 1), built and read here with the ``msgpack``
package, as any independent client would (bench/common.py, imported only
for its server launchers and helpers, imports the codec for other benches).
Receivers never write: each server lives for one run, shorter than Roost's
30 s keepalive interval (section 7), so no ping goes unanswered. The client mix is that of issue 13:

- every connection is its own account (registered with ``login`` and
  ``register: true``, section 4) and joins one room (section 6);
- 100 receivers in that room; in the paced runs they are drained lazily:
  every 5 ms each socket is read until nothing is left, then the process
  sleeps 5 ms. Every 10th receiver (``--stamp-every``) reads as soon as
  data arrives and records latencies;
- senders are members of the room and receive their own messages (Roost
  echoes them; IRC servers send a channel message to the other members
  only). They send at a fixed rate in total (500 and 2,000 msg/s by
  default), each text carrying its send time (CLOCK_MONOTONIC, shared by
  all processes of the machine), so the receivers compute the latency;
- an eager fan-out run: every receiver reads as fast as it can, senders
  send unpaced, a bounded window in flight, for a bounded count.

Receivers count the texts' marker (``~T13~``), not frames: the marker is in
every text and in nothing else, so the same counter serves Roost and IRC.
Server CPU is user + system time from /proc/PID/stat of the server process
over the sending window. With --peers, the same against ngircd and InspIRCd
(installed from Debian packages when missing) in the same run, with ratios
Roost/peer.

    python bench/outside.py [--peers] [--rates 500 2000] [--duration 10]

Everything is on 127.0.0.1; every loop is bounded in count and in time;
the servers and worker processes this starts are stopped by their PIDs.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import selectors
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import msgpack

from common import (
    HOST,
    NGIRCD_OPER,
    PASSWORD,
    Inspircd,
    Ngircd,
    RoostServer,
    _peer_binary,
    add_roost_config,
    base_args,
    cpu_seconds,
    emit,
    load_average,
    peer_version,
    percentile,
    raise_fd_limit,
    roost_overrides,
    workdir,
)

MARK = b"~T13~"
STAMP_DIGITS = 19
STAMP_LEN = len(MARK) + STAMP_DIGITS
TEXT_SIZE = 100
ROOM = "outside"
CHANNEL = "#outside"
IRC_BATCH = 16  # IRC senders send a PING after this many lines: its PONG is the acknowledgement
LAZY_INTERVAL = 0.005
SETUP_TIMEOUT = 30.0
# Roost as the issue measures it: acknowledge after the store (the default,
# said explicitly), flood limits lifted as for the peers (BENCH_CONFIG in
# common.py), cheap password hashing so 100+ registrations do not dominate setup.
ROOST_CONFIG: dict[str, Any] = {
    "ack_after_store": True,
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
}


# --- the wire: frames of msgpack maps (docs/protocol.md, section 1) -------------------


def frame(obj: dict[str, Any]) -> bytes:
    payload = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(payload)) + payload


def stamped_text() -> str:
    head = f"{MARK.decode()}{time.monotonic_ns():0{STAMP_DIGITS}d}"
    return head + "x" * (TEXT_SIZE - len(head))


class SetupError(RuntimeError):
    pass


def _recv_some(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise SetupError("server closed the connection during setup")
    return data


def roost_connect(port: int, user: str) -> socket.socket:
    """hello, login with register (a new account), join ROOM; blocking, bounded."""
    sock = socket.create_connection((HOST, port), timeout=SETUP_TIMEOUT)
    buf = bytearray()

    def next_frame() -> dict[str, Any]:
        while True:
            if len(buf) >= 4:
                (n,) = struct.unpack_from(">I", buf)
                if len(buf) >= 4 + n:
                    obj = msgpack.unpackb(bytes(buf[4 : 4 + n]), raw=False)
                    del buf[: 4 + n]
                    return obj  # type: ignore[no-any-return]
            buf.extend(_recv_some(sock))

    def reply(rid: int) -> dict[str, Any]:
        while True:
            msg = next_frame()
            if msg.get("t") in ("ok", "error") and msg.get("id") == rid:
                if msg["t"] == "error":
                    raise SetupError(f"{user}: {msg.get('code')}: {msg.get('message')}")
                return msg

    hello = next_frame()  # the server speaks first (section 2)
    if hello.get("t") != "hello":
        raise SetupError(f"{user}: expected hello, got {hello}")
    login = {"t": "login", "id": 1, "user": user, "password": PASSWORD, "register": True}
    sock.sendall(frame({"t": "hello", "version": 1, "client": "outside"}) + frame(login))
    reply(1)
    sock.sendall(frame({"t": "join", "id": 2, "room": ROOM}))
    reply(2)
    if buf:  # events that came with the replies carry no marker: nothing to keep
        buf.clear()
    return sock


def irc_connect(port: int, nick: str, oper: bool) -> socket.socket:
    """NICK/USER, optionally OPER + MODE +F (ngircd's relaxed flood limits), JOIN."""
    sock = socket.create_connection((HOST, port), timeout=SETUP_TIMEOUT)
    pending = b""

    def until(token: bytes) -> None:
        nonlocal pending
        while True:
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.startswith(b"PING"):
                    sock.sendall(b"PONG" + line[4:] + b"\n")
                    continue
                if token in line:
                    return
                parts = line.split(b" ")
                if len(parts) > 1 and parts[1][:1] == b"4" and parts[1].isdigit():
                    raise SetupError(f"{nick}: IRC error {line!r}")
            pending += _recv_some(sock)

    sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :outside\r\n".encode())
    until(b" 001 ")
    if oper:
        sock.sendall(f"OPER {NGIRCD_OPER[0]} {NGIRCD_OPER[1]}\r\n".encode())
        until(b" 381 ")
        sock.sendall(f"MODE {nick} +F\r\n".encode())
        until(b"+F")
    sock.sendall(f"JOIN {CHANNEL}\r\n".encode())
    until(b" 366 ")
    return sock


# --- receivers ------------------------------------------------------------------------


@dataclass
class Spec:
    system: str  # "roost" | "ngircd" | "inspircd"
    port: int
    mode: str  # "paced" | "fanout"


class Receiver:
    """One receiving connection: counts markers, a sampler also records latencies."""

    def __init__(self, sock: socket.socket, sampler: bool) -> None:
        self.sock = sock
        self.sampler = sampler
        self.count = 0
        self.tail = b""
        self.closed = False
        self.samples: list[tuple[int, int]] = []  # (send ns, latency ns)

    def drain(self, once: bool) -> None:
        """Read what is available (once: one read, for a socket the selector found ready)."""
        while True:
            try:
                data = self.sock.recv(262144)
            except BlockingIOError:
                return
            except OSError:
                self.closed = True
                return
            if not data:
                self.closed = True
                return
            self.feed(data, time.monotonic_ns())
            if once:
                return

    def feed(self, data: bytes, now: int) -> None:
        tail = self.tail
        if self.sampler:
            buf = tail + data
            seam = len(tail)
            pos = buf.find(MARK)
            while pos >= 0:
                stop = pos + STAMP_LEN
                if stop > len(buf):
                    break  # completed by the next read (kept in the tail)
                if stop > seam:  # not counted with the previous read
                    self.count += 1
                    digits = buf[pos + len(MARK) : stop]
                    if digits.isdigit():
                        sent = int(digits)
                        self.samples.append((sent, now - sent))
                pos = buf.find(MARK, stop)
            keep = STAMP_LEN - 1
        else:
            # bytes.count runs in C; a marker cut by the read boundary is found at the seam.
            k = len(MARK) - 1
            self.count += data.count(MARK) + (tail[-k:] + data[:k]).count(MARK)
            keep = k
        self.tail = (tail + data)[-keep:] if len(data) < keep else data[-keep:]


def receiver_worker(pipe: Connection, spec: Spec, first: int, count: int, stamp_every: int) -> None:
    receivers: list[Receiver] = []
    try:
        for i in range(first, first + count):
            name = f"or{i}"
            sock = (
                roost_connect(spec.port, name)
                if spec.system == "roost"
                else irc_connect(spec.port, name, oper=False)
            )
            sock.setblocking(False)
            sampler = bool(stamp_every) and i % stamp_every == 0
            receivers.append(Receiver(sock, sampler))
        _receive_loop(pipe, spec, receivers)
    except Exception as exc:  # reported to the coordinator, which fails the run
        with contextlib.suppress(OSError):
            pipe.send({"error": repr(exc)})
    finally:
        for r in receivers:
            r.sock.close()


def _receive_loop(pipe: Connection, spec: Spec, receivers: list[Receiver]) -> None:
    sel = selectors.DefaultSelector()
    # In the fan-out run every receiver is eager; in the paced runs only the samplers.
    eager = [r for r in receivers if spec.mode == "fanout" or r.sampler]
    lazy = [r for r in receivers if r not in eager]
    for r in eager:
        sel.register(r.sock, selectors.EVENT_READ, r)
    sel.register(pipe.fileno(), selectors.EVENT_READ, None)
    pipe.send({"ready": len(receivers)})
    timeline: list[tuple[int, int]] = []
    next_lazy = time.monotonic()
    last_mark = 0
    deadline = time.monotonic() + 600  # a bound even if the coordinator vanished
    while time.monotonic() < deadline:
        timeout = max(0.0, next_lazy - time.monotonic()) if lazy else 0.05
        for key, _ in sel.select(timeout):
            if key.data is None:
                cmd = pipe.recv()
                if cmd == "go":
                    for r in receivers:
                        r.count = 0
                        r.samples.clear()
                    timeline.clear()
                    pipe.send("going")
                elif cmd == "poll":
                    pipe.send(sum(r.count for r in receivers))
                elif cmd == "stop":
                    pipe.send(
                        {
                            "timeline": timeline,
                            "counts": [r.count for r in receivers],
                            "closed": sum(r.closed for r in receivers),
                            "samples": [s for r in receivers for s in r.samples],
                            "lazy": len(lazy),
                        }
                    )
                    return
            else:
                r = key.data
                r.drain(once=True)
                if r.closed:
                    sel.unregister(r.sock)
        if lazy and time.monotonic() >= next_lazy:
            for r in lazy:
                if not r.closed:
                    r.drain(once=False)
            # Read what was there, then sleep 5 ms (the selector wait is the sleep).
            next_lazy = time.monotonic() + LAZY_INTERVAL
        now = time.monotonic_ns()
        if now - last_mark >= 20_000_000:
            timeline.append((now, sum(r.count for r in receivers)))
            last_mark = now


# --- senders --------------------------------------------------------------------------


class Sender:
    """A sending connection that reads everything it gets (its own messages too)."""

    def __init__(self, sock: socket.socket, system: str) -> None:
        self.sock = sock
        self.irc = system != "roost"
        self.out = bytearray()
        self.inbuf = bytearray()
        self.tail = b""
        self.sent = 0
        self.acked = 0
        self.errors = 0
        self.error_codes: dict[str, int] = {}
        self.received = 0  # room messages received (its own and the others')
        self.next_id = 1000
        self.pings: list[int] = []  # IRC: messages sent when each PING went out
        self.pongs = 0
        self.closed = False

    def queue(self, text: str) -> None:
        self.sent += 1
        if self.irc:
            self.out += f"PRIVMSG {CHANNEL} :{text}\r\n".encode()
            if self.sent % IRC_BATCH == 0:
                self.ping()
        else:
            self.next_id += 1
            self.out += frame({"t": "send", "id": self.next_id, "to": ROOM, "text": text})

    def ping(self) -> None:
        self.pings.append(self.sent)
        self.out += f"PING :{self.sent}\r\n".encode()

    def flush(self) -> None:
        if not self.out or self.closed:
            return
        try:
            n = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            self.closed = True
            return
        del self.out[:n]

    def read(self) -> None:
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            self.closed = True
            return
        if not data:
            self.closed = True
            return
        if self.irc:
            k = len(MARK) - 1
            self.received += data.count(MARK) + (self.tail[-k:] + data[:k]).count(MARK)
            p = b" PONG "
            j = len(p) - 1
            self.pongs += data.count(p) + (self.tail[-j:] + data[:j]).count(p)
            self.tail = (self.tail + data)[-8:]
            if self.pongs:
                self.acked = self.pings[min(self.pongs, len(self.pings)) - 1]
            return
        buf = self.inbuf
        buf += data
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            n = int.from_bytes(buf[pos : pos + 4], "big")
            if end - pos - 4 < n:
                break
            payload = bytes(buf[pos + 4 : pos + 4 + n])
            pos += 4 + n
            if MARK in payload:  # a room message: our texts are the only ones with it
                self.received += 1
                continue
            msg = msgpack.unpackb(payload, raw=False)
            t = msg.get("t")
            if t == "ok" and isinstance(msg.get("id"), int) and msg["id"] > 1000:
                self.acked += 1
            elif t == "error":
                self.errors += 1
                code = str(msg.get("code"))
                self.error_codes[code] = self.error_codes.get(code, 0) + 1
            elif t == "ping":  # keepalive (section 7): answer, so a long run is not cut off
                self.out += frame({"t": "pong", "ts": msg.get("ts", 0.0)})
        del buf[:pos]


def sender_worker(pipe: Connection, spec: Spec, count: int) -> None:
    senders: list[Sender] = []
    try:
        for i in range(count):
            name = f"os{i}"
            if spec.system == "roost":
                sock = roost_connect(spec.port, name)
            else:
                sock = irc_connect(spec.port, name, oper=spec.system == "ngircd")
            sock.setblocking(False)
            senders.append(Sender(sock, spec.system))
        pipe.send({"ready": count})
        cmd = pipe.recv()
        _send(pipe, senders, cmd)
    except Exception as exc:
        with contextlib.suppress(OSError):
            pipe.send({"error": repr(exc)})
    finally:
        for s in senders:
            s.sock.close()


def _pump(sel: selectors.BaseSelector, senders: list[Sender], timeout: float) -> None:
    """Write what is queued, read what arrived (waiting at most ``timeout``)."""
    for s in senders:
        s.flush()
    for key, _ in sel.select(timeout):
        key.data.read()


def _send(pipe: Connection, senders: list[Sender], cmd: dict[str, Any]) -> None:
    sel = selectors.DefaultSelector()
    for s in senders:
        sel.register(s.sock, selectors.EVENT_READ, s)
    rate = float(cmd["rate"])
    duration = float(cmd["duration"])
    per_sender = int(cmd["count"])
    window = int(cmd["window"])
    limit = int(rate * duration) if rate > 0 else per_sender * len(senders)
    t0 = time.monotonic_ns()
    start = time.monotonic()
    total = 0
    turn = 0
    while total < limit and not any(s.closed for s in senders):
        elapsed = time.monotonic() - start
        if elapsed > duration + 5:
            break  # cannot keep up: stop anyway
        if rate > 0:
            due = min(int(elapsed * rate), limit) - total
            while due > 0:
                s = senders[turn % len(senders)]
                turn += 1
                s.queue(stamped_text())
                total += 1
                due -= 1
            _pump(sel, senders, 0.001)
        else:
            for s in senders:
                room = min(window - (s.sent - s.acked), per_sender - s.sent)
                if s.irc:
                    room -= room % IRC_BATCH
                for _ in range(max(0, room)):
                    s.queue(stamped_text())
                    total += 1
            _pump(sel, senders, 0.01)
    t1 = time.monotonic_ns()
    pipe.send({"phase": "sent", "t0": t0, "t1": t1})
    for s in senders:
        if s.irc and (not s.pings or s.pings[-1] != s.sent):
            s.ping()  # the last PONG covers the last lines
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(s.acked < s.sent and not s.closed for s in senders):
        _pump(sel, senders, 0.01)
    # Keep reading a moment: the senders' own copies of the last messages.
    settle = time.monotonic() + 0.3
    while time.monotonic() < settle:
        _pump(sel, senders, 0.01)
    pipe.send(
        {
            "t0": t0,
            "t1": t1,
            "sent": sum(s.sent for s in senders),
            "acked": sum(s.acked for s in senders),
            "errors": sum(s.errors for s in senders),
            "error_codes": {c: n for s in senders for c, n in s.error_codes.items()},
            "sender_received": sum(s.received for s in senders),
            "closed": sum(s.closed for s in senders),
        }
    )


# --- the coordinator -----------------------------------------------------------------


class Procs:
    """Forked workers, each with a pipe; stopped by their PIDs."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("fork")
        self.procs: list[mp.process.BaseProcess] = []

    def start(self, target: Any, *args: Any) -> Connection:
        ours, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(target=target, args=(theirs, *args), daemon=True)
        proc.start()
        theirs.close()
        self.procs.append(proc)
        return ours

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def stop(self) -> None:
        for proc in self.procs:
            proc.join(2)
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, 15)
                proc.join(5)
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, 9)
                proc.join()


def _get(pipe: Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError("a worker did not answer in time")
    msg = pipe.recv()
    if isinstance(msg, dict) and "error" in msg:
        raise RuntimeError(f"worker failed: {msg['error']}")
    return msg


def _at(tl: list[tuple[int, int]], t: int) -> float:
    """Count at time t, interpolated in a timeline of (ns, count)."""
    if not tl:
        return 0.0
    prev = tl[0]
    if t <= prev[0]:
        return float(prev[1])
    for cur in tl[1:]:
        if cur[0] >= t:
            span = cur[0] - prev[0]
            return prev[1] + (t - prev[0]) / span * (cur[1] - prev[1]) if span else float(cur[1])
        prev = cur
    return float(tl[-1][1])


def run_mix(
    spec: Spec,
    server_pid: int,
    args: argparse.Namespace,
    rate: float,
    on_go: Any = None,
    on_sent: Any = None,
) -> dict[str, Any]:
    """One run of the client mix against a server listening on spec.port."""
    procs = Procs()
    try:
        per = -(-args.receivers // args.receiver_procs)
        recv_pipes = [
            procs.start(
                receiver_worker, spec, first, min(per, args.receivers - first), args.stamp_every
            )
            for first in range(0, args.receivers, per)
        ]
        setup0 = time.monotonic()
        for p in recv_pipes:
            _get(p, 180)
        send_pipe = procs.start(sender_worker, spec, args.senders)
        _get(send_pipe, 60)
        setup = time.monotonic() - setup0
        time.sleep(1.0)  # joins and presence of the setup die down
        for p in recv_pipes:
            p.send("go")
        for p in recv_pipes:
            _get(p, 10)
        fanout = spec.mode == "fanout"
        duration = args.fanout_duration if fanout else args.duration
        clients0 = sum(cpu_seconds(pid) for pid in procs.pids)
        cpu0 = cpu_seconds(server_pid)
        w0 = time.monotonic()
        send_pipe.send(
            {
                "rate": 0 if fanout else rate,
                "duration": duration,
                "count": args.fanout_count,
                "window": args.window,
            }
        )
        if on_go is not None:
            on_go()
        phase = _get(send_pipe, duration + 30)
        cpu1 = cpu_seconds(server_pid)
        w1 = time.monotonic()
        clients1 = sum(cpu_seconds(pid) for pid in procs.pids)
        if on_sent is not None:
            on_sent()
        sent = _get(send_pipe, 30)
        # Wait until deliveries stop growing (bounded).
        last = -1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.25)
            for p in recv_pipes:
                p.send("poll")
            now = sum(_get(p, 10) for p in recv_pipes)
            if now == last:
                break
            last = now
        for p in recv_pipes:
            p.send("stop")
        recv = [_get(p, 30) for p in recv_pipes]
    finally:
        procs.stop()
    assert phase["phase"] == "sent"
    t1 = sent["t1"]
    # The warm-up is left out only of a window long enough to keep most of it.
    t0 = sent["t0"] + min(int(args.warmup * 1e9), (t1 - sent["t0"]) // 2)
    delivered = sum(_at(r["timeline"], t1) - _at(r["timeline"], t0) for r in recv)
    rate_out = delivered / max(1e-9, (t1 - t0) / 1e9)
    counts = [c for r in recv for c in r["counts"]]
    window = max(1e-9, w1 - w0)
    out: dict[str, Any] = {
        "system": spec.system,
        "mode": spec.mode,
        "rate_asked": rate if not fanout else None,
        "receivers": args.receivers,
        "lazy_receivers": sum(r["lazy"] for r in recv),
        "senders": args.senders,
        "setup_seconds": round(setup, 1),
        "window_seconds": round((sent["t1"] - sent["t0"]) / 1e9, 3),
        "sent": sent["sent"],
        "acked": sent["acked"],
        "errors": sent["errors"],
        "error_codes": sent["error_codes"],
        "msgs_per_s": round(sent["sent"] / max(1e-9, (sent["t1"] - sent["t0"]) / 1e9)),
        "deliveries_per_s": round(rate_out),
        "delivered_min": min(counts),
        "delivered_max": max(counts),
        "complete": min(counts) >= sent["sent"],
        "closed": sum(r["closed"] for r in recv) + sent["closed"],
        "sender_received": sent["sender_received"],
        "server_cpu": round((cpu1 - cpu0) / window, 3),
        "server_us_per_msg": round((cpu1 - cpu0) / max(1, sent["sent"]) * 1e6, 1),
        "clients_cpu": round((clients1 - clients0) / window, 3),
    }
    samples = [lat for r in recv for (sent_ns, lat) in r["samples"] if sent_ns >= t0]
    if samples:
        ms = [s / 1e6 for s in samples]
        out["latency_ms"] = {
            "samples": len(ms),
            "p50": round(percentile(ms, 50), 3),
            "p90": round(percentile(ms, 90), 3),
            "p99": round(percentile(ms, 99), 3),
            "max": round(max(ms), 3),
        }
    return out


# --- the servers ----------------------------------------------------------------------


def ensure_irc_peers() -> None:
    """ngircd and InspIRCd from Debian packages, when missing."""
    missing = [p for p in ("ngircd", "inspircd") if _peer_binary(p) is None]
    if not missing:
        return
    print(f"installing {' '.join(missing)} (apt-get)", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *missing],
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
    )


def _profiler(
    args: argparse.Namespace, pid: int, label: str, started: list[subprocess.Popen[bytes]]
) -> Any:
    """A callback that starts py-spy on the server for the paced window (raw stacks)."""

    def go() -> None:
        path = args.profile / f"roost-{label}.txt"
        argv = [args.py_spy, "record", "--pid", str(pid), "--format", "raw"]
        argv += ["--output", str(path), "--duration", str(int(args.duration))]
        argv += ["--rate", "200", "--nonblocking"]
        started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    return go


def measure(system: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every run (each rate, then fan-out) against a fresh server of ``system`` each."""
    out: dict[str, Any] = {}
    runs = [("paced", r) for r in args.rates]
    if not args.no_fanout:
        runs.append(("fanout", 0.0))
    for mode, rate in runs:
        label = f"{rate:g}" if mode == "paced" else "fanout"
        print(f"[outside] {system} {label} ...", file=sys.stderr, flush=True)
        with workdir(f"outside-{system}") as tmp:
            server: RoostServer | Ngircd | Inspircd
            if system == "roost":
                config = {**ROOST_CONFIG, **roost_overrides(args)}
                server = RoostServer(tmp, config=config)
            elif system == "ngircd":
                server = Ngircd(tmp)
            else:
                server = Inspircd(tmp)
            server.start()
            try:
                profiler: list[subprocess.Popen[bytes]] = []
                on_go = None
                if system == "roost" and args.profile and mode == "paced":
                    on_go = _profiler(args, server.pid, label, profiler)
                result = run_mix(Spec(system, server.port, mode), server.pid, args, rate, on_go)
                for p in profiler:
                    try:
                        p.wait(args.duration + 30)
                    except subprocess.TimeoutExpired:
                        os.kill(p.pid, 9)  # the py-spy this run started, by its PID
                        p.wait()
                if system == "roost":
                    result["config"] = config
                else:
                    result["version"] = peer_version(system)
            finally:
                server.stop()
        out[label] = result
    return out


def ratios(results: dict[str, Any], peer: str) -> dict[str, Any]:
    """Roost/peer for every figure of every run both have."""
    out: dict[str, Any] = {}
    ours_all, theirs_all = results["roost"], results[peer]
    for label, ours in ours_all.items():
        theirs = theirs_all.get(label)
        if not theirs:
            continue
        r: dict[str, float] = {}
        for key in ("deliveries_per_s", "server_cpu", "server_us_per_msg"):
            if theirs.get(key):
                r[key] = round(ours[key] / theirs[key], 3)
        for p in ("p50", "p99"):
            a, b = ours.get("latency_ms", {}).get(p), theirs.get("latency_ms", {}).get(p)
            if a is not None and b:
                r[p] = round(a / b, 3)
        out[label] = r
    return out


def targets(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The issue's targets, each with the ratio it is judged on and whether it is met."""
    out: dict[str, Any] = {}
    ng = results.get("ratios_vs_ngircd", {})
    for rate in args.rates:
        label = f"{rate:g}"
        r = ng.get(label, {})
        if "p99" in r:
            out[f"p99 at {label} <= ngircd"] = {"ratio": r["p99"], "met": r["p99"] <= 1.0}
        if "p50" in r:
            out[f"p50 at {label} <= 1.5x ngircd"] = {"ratio": r["p50"], "met": r["p50"] <= 1.5}
    if "server_cpu" in ng.get("500", {}):
        cpu = ng["500"]["server_cpu"]
        out["server CPU at 500 <= 1.2x ngircd"] = {"ratio": cpu, "met": cpu <= 1.2}
    insp = results.get("ratios_vs_inspircd", {}).get("fanout", {})
    if "deliveries_per_s" in insp:
        d = insp["deliveries_per_s"]
        out["fan-out >= InspIRCd"] = {"ratio": d, "met": d >= 1.0}
    return out


def main() -> None:
    parser = base_args(__doc__ or "")
    add_roost_config(parser)
    parser.add_argument("--rates", type=float, nargs="+", default=[500.0, 2000.0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of paced sending")
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--receiver-procs", type=int, default=2)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--stamp-every", type=int, default=10, help="every k-th receiver samples")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not counted at first")
    parser.add_argument("--no-fanout", action="store_true", help="skip the eager fan-out run")
    parser.add_argument("--fanout-count", type=int, default=50000, help="messages per sender")
    parser.add_argument("--fanout-duration", type=float, default=8.0, help="longest fan-out")
    parser.add_argument("--window", type=int, default=128, help="fan-out: messages in flight")
    parser.add_argument("--only", nargs="*", default=None, help="systems: roost ngircd inspircd")
    parser.add_argument(
        "--profile",
        type=lambda s: __import__("pathlib").Path(s),
        help="a folder: py-spy records the Roost server during each paced run (raw stacks)",
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy binary for --profile")
    args = parser.parse_args()
    raise_fd_limit()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    systems = ["roost"] + (["ngircd", "inspircd"] if args.peers else [])
    if args.only:
        systems = [s for s in systems if s in args.only] or args.only
    if any(s != "roost" for s in systems):
        ensure_irc_peers()
    results: dict[str, Any] = {
        "bench": "outside",
        "load_before": load_average(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    for system in systems:
        results[system] = measure(system, args)
    for peer in ("ngircd", "inspircd"):
        if "roost" in results and peer in results:
            results[f"ratios_vs_{peer}"] = ratios(results, peer)
    results["targets"] = targets(results, args)
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
