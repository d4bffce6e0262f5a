"""Idle scale: 5,000 logged-in sessions in rooms of 100.

Setup: 200 accounts register once with a password (argon2) and join one of 50
rooms (4 accounts a room). Then the server restarts, as after an upgrade, and
5,000 connections come back with session tokens (``resume``, no password
hashing): 25 per account, so every room has 100 sessions
(``--accounts-per-room 100``: one account per session, as IRC clients are). Measured: the time
until every connection has its login reply, and the server's RSS growth per
connection (VmRSS after minus before, over 5,000).

With --peers: ngircd and InspIRCd (5,000 clients registering and joining channels of 100:
RSS per connection and time) and mosquitto (5,000 MQTT CONNECTs: time and RSS).

    python bench/idle.py [--peers] [--sessions 5000] [--accounts-per-room 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

from common import (
    HOST,
    ROOST_ERR,
    ROOST_OK,
    Inspircd,
    Mosquitto,
    Ngircd,
    RoostServer,
    Workers,
    base_args,
    emit,
    ensure_peers,
    load_average,
    peer_version,
    raise_fd_limit,
    recv_pipe,
    roost_session,
    rss_kib,
    workdir,
)
from roost.protocol.codec import encode
from roost.protocol.messages import PROTOCOL_VERSION, ClientHello, Resume

ROOM_SIZE = 100
ACCOUNTS_PER_ROOM = 4
# Handshakes under way at once, per worker process. ngircd listens with a
# backlog of 10 and accepts one connection per loop turn, so more than that
# in flight only measures SYN retransmission timers. InspIRCd completes the
# registrations waiting once a second (its background user check), so with
# few in flight it takes a second per handful of clients.
IN_FLIGHT = {"roost": 100, "mqtt": 100, "ngircd": 5, "inspircd": 500}
WORKERS = 2


# What an IRC client sends once it is registered: InspIRCd registers a
# connection a loop turn after NICK/USER and answers a JOIN sent with them
# with 451 "You have not registered" (ngircd takes the three lines at once).
Then = tuple[bytes, bytes] | None  # (when this is received, send this)


class Handshake(asyncio.Protocol):
    """Sends a login at once (the rest once ``then`` is due) and waits for ``ok``."""

    def __init__(self, first: bytes, ok: bytes, bad: bytes | None, then: Then = None) -> None:
        self.first = first
        self.ok = ok
        self.bad = bad
        self.then = then
        self.buf = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.first)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # idle from now on: read and drop
        self.buf = (self.buf + data)[-4096:]
        if self.then is not None and self.then[0] in self.buf:
            assert self.transport is not None
            self.transport.write(self.then[1])
            self.then = None
        if self.ok in self.buf:
            self.done.set_result(None)
        elif self.bad is not None and self.bad in self.buf:
            self.done.set_exception(RuntimeError(f"login refused: {self.buf[-300:]!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError("closed during login"))


def first_bytes(
    system: str, i: int, token: str, room: int
) -> tuple[bytes, bytes, bytes | None, Then]:
    if system == "roost":
        hello = encode(ClientHello(version=PROTOCOL_VERSION, client="bench"))
        return hello + encode(Resume(id=1, token=token)), ROOST_OK, ROOST_ERR, None
    if system in ("ngircd", "inspircd"):
        nick = f"i{i}"
        line = f"NICK {nick}\r\nUSER {nick} 0 * :b\r\n"
        return line.encode(), b" 366 ", b"ERROR", (b" 001 ", f"JOIN #idle{room}\r\n".encode())
    # MQTT 3.1.1 CONNECT, clean session, keepalive 0, client id "c<i>".
    cid = f"c{i}".encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x00"
    payload = len(cid).to_bytes(2, "big") + cid
    body = var + payload
    return b"\x10" + bytes([len(body)]) + body, b"\x20\x02\x00\x00", None, None


async def connect_worker(
    pipe: Connection, system: str, port: int, first: int, count: int, tokens: list[str]
) -> None:
    assert await recv_pipe(pipe) == "go"
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(IN_FLIGHT[system])
    transports: list[asyncio.BaseTransport] = []
    t0 = time.monotonic_ns()

    async def one(i: int) -> None:
        async with sem:
            data, ok, bad, then = first_bytes(
                system, i, tokens[i] if tokens else "", i // ROOM_SIZE
            )
            transport, proto = await loop.create_connection(
                lambda: Handshake(data, ok, bad, then), HOST, port
            )
            transports.append(transport)
            await asyncio.wait_for(proto.done, 60)

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(first, first + count))), 120)
    t1 = time.monotonic_ns()
    pipe.send({"t0": t0, "t1": t1, "n": count})
    assert await recv_pipe(pipe) == "close"
    for t in transports:
        t.close()
    await asyncio.sleep(0.2)
    pipe.send("closed")


def connect_all(
    system: str,
    port: int,
    pid: int,
    sessions: int,
    tokens: list[str],
    worker: Callable[..., Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """``sessions`` connections by ``worker`` (default connect_worker) processes; RSS growth."""
    workers = Workers()
    try:
        per = -(-sessions // WORKERS)
        for first in range(0, sessions, per):
            workers.start(
                worker or connect_worker, system, port, first, min(per, sessions - first), tokens
            )
        time.sleep(0.5)
        before = rss_kib(pid)
        workers.send("go")
        done = workers.gather(timeout=180)
        elapsed = (max(d["t1"] for d in done) - min(d["t0"] for d in done)) / 1e9
        time.sleep(2.0)  # presence notices settle; idle outboxes are trimmed (server tick)
        after = rss_kib(pid)
        workers.send("close")
        workers.gather(timeout=60)
    finally:
        workers.stop()
    return {
        "system": system,
        "sessions": sessions,
        "seconds_to_all_in": round(elapsed, 3),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_conn_kib": round((after - before) / sessions, 3),
    }


async def _register(port: int, accounts: int, per_room: int) -> list[str]:
    sem = asyncio.Semaphore(8)

    async def one(a: int) -> str:
        async with sem:
            room = f"idle{a // per_room}"
            _, writer, result = await roost_session(port, f"idle{a}", join=[room])
            writer.close()
            return str(result["token"])

    return list(await asyncio.gather(*(one(a) for a in range(accounts))))


def roost_idle(args: argparse.Namespace) -> dict[str, Any]:
    per_room = args.accounts_per_room
    accounts = args.sessions // ROOM_SIZE * per_room
    with workdir("idle") as tmp:
        config = {"default_rooms": []}
        server = RoostServer(tmp, config=config).start()
        try:
            t = time.monotonic()
            tokens = asyncio.run(_register(server.port, accounts, per_room))
            setup = time.monotonic() - t
            server.stop()
            server.start()  # a restart: everyone comes back with a token
            # Session i resumes account i // (sessions per account): each room
            # gets 100 sessions of its accounts.
            per_account = ROOM_SIZE // per_room
            of_session = [tokens[i // per_account] for i in range(args.sessions)]
            result = connect_all("roost", server.port, server.pid, args.sessions, of_session)
            result["accounts"] = accounts
            result["setup_seconds"] = round(setup, 1)
            return result
        finally:
            server.stop()


def peer_idle(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with workdir(f"idle-{kind}") as tmp:
        server: Ngircd | Inspircd | Mosquitto = (
            Ngircd(tmp)
            if kind == "ngircd"
            else Inspircd(tmp)
            if kind == "inspircd"
            else Mosquitto(tmp)
        )
        server.start()
        try:
            system = "mqtt" if kind == "mosquitto" else kind
            result = connect_all(system, server.port, server.pid, args.sessions, [])
            result["version"] = peer_version(kind)
            return result
        finally:
            server.stop()


def main() -> None:
    parser = base_args(__doc__ or "")
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument(
        "--accounts-per-room",
        type=int,
        default=ACCOUNTS_PER_ROOM,
        choices=[1, 2, 4, 5, 10, 20, 25, 50, 100],
        help="Roost accounts per room of 100 sessions (100: one account per session, as IRC)",
    )
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "idle", "load_before": load_average()}
    results["roost"] = roost_idle(args)
    if args.peers:
        ensure_peers()
        results["ngircd"] = peer_idle("ngircd", args)
        results["inspircd"] = peer_idle("inspircd", args)
        results["mosquitto"] = peer_idle("mosquitto", args)
        ours = results["roost"]
        results["ratio_rss_vs_ngircd"] = round(
            ours["rss_per_conn_kib"] / max(1e-9, results["ngircd"]["rss_per_conn_kib"]), 3
        )
        results["ratio_rss_vs_inspircd"] = round(
            ours["rss_per_conn_kib"] / max(1e-9, results["inspircd"]["rss_per_conn_kib"]), 3
        )
        results["ratio_time_vs_mosquitto"] = round(
            ours["seconds_to_all_in"] / max(1e-9, results["mosquitto"]["seconds_to_all_in"]), 3
        )
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
