"""Big rooms: N members (default 2,000) join one room at once, then messages reach them all.

Every member is a lightweight client (it counts markers in the byte stream,
as in fanout.py), logged in beforehand, spread over worker processes. The
bench measures:

- join: from the moment every member is told to join (all at once) until
  the last member has its reply (Roost: the join's ok; IRC: end of NAMES);
- message: from the send of one message by a member until the last of the N
  members has it, for a few messages one after another (max and median),
  and until the first has it (the server's share, mostly: the rest is the
  clients' processes taking their turns on the CPU);
- what the joins cost in notices: bytes each member received while the room
  filled (Roost announces no joins past quiet_room_size; IRC announces all).

    python bench/big_room.py [--members 2000] [--peers] [--messages 5]
        [--roost-config quiet_room_size=0]

With --peers, ngircd runs the same in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

from common import (
    HOST,
    IRC_MSG,
    ROOST_MSG,
    ROOST_OK,
    Ngircd,
    RoostServer,
    Workers,
    add_roost_config,
    adopt,
    base_args,
    emit,
    ensure_peers,
    irc_session,
    load_average,
    peer_version,
    raise_fd_limit,
    recv_pipe,
    roost_overrides,
    roost_session,
    rss_kib,
    stamped_text,
    workdir,
)
from roost.protocol.codec import encode
from roost.protocol.messages import Join, Send

ROOM = "big"
IRC_ROOM = "#big"
IRC_JOINED = b" 366 "  # RPL_ENDOFNAMES: the join is complete
# Password hashing is set-up, not what is measured: the cheapest argon2 allowed.
FAST_AUTH = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
JOIN_TIMEOUT = 120.0  # bound on one join phase, seconds
MSG_TIMEOUT = 10.0  # bound on one message reaching everyone, seconds


class Member(asyncio.Protocol):
    """One member: notes when its join completed and when each message arrived."""

    def __init__(self, joined_marker: bytes, msg_marker: bytes) -> None:
        self.joined_marker = joined_marker
        self.msg_marker = msg_marker
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.joined_at = 0
        self.msgs = 0
        self.msg_at = 0  # arrival of the latest message (ns)
        self.bytes = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buf = self.tail + data
        if not self.joined_at and self.joined_marker in buf:
            self.joined_at = now
        n = buf.count(self.msg_marker) - self.tail.count(self.msg_marker)
        if n:
            self.msgs += n
            self.msg_at = now
        self.tail = buf[-32:]
        self.bytes += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


async def _connect(system: str, port: int, names: list[str]) -> list[Member]:
    sem = asyncio.Semaphore(32)

    async def one(name: str) -> Member:
        async with sem:
            if system == "roost":
                _, writer, _ = await roost_session(port, name)
                m = Member(ROOST_OK, ROOST_MSG)
            else:
                _, writer = await irc_session(port, name, [])
                m = Member(IRC_JOINED, IRC_MSG)
            adopt(writer, m)
            return m

    return list(await asyncio.gather(*(one(n) for n in names)))


async def member_worker(pipe: Connection, system: str, port: int, names: list[str]) -> None:
    members = await _connect(system, port, names)
    pipe.send({"ready": len(members)})
    while True:
        cmd = await recv_pipe(pipe)
        if cmd == "join":
            for i, m in enumerate(members):
                m.bytes = 0
                assert m.transport is not None
                if system == "roost":
                    m.transport.write(encode(Join(id=1000 + i, room=ROOM)))
                else:
                    m.transport.write(f"JOIN {IRC_ROOM}\r\n".encode())
            deadline = time.monotonic() + JOIN_TIMEOUT
            while any(not m.joined_at for m in members) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            pipe.send(
                {
                    "last": max(m.joined_at for m in members),
                    "missing": sum(not m.joined_at for m in members),
                    "bytes": sum(m.bytes for m in members),
                }
            )
        elif isinstance(cmd, tuple) and cmd[0] == "wait_msg":
            want = cmd[1]
            deadline = time.monotonic() + MSG_TIMEOUT
            while any(m.msgs < want for m in members) and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            pipe.send(
                {
                    "first": min(m.msg_at for m in members),
                    "last": max(m.msg_at for m in members),
                    "missing": sum(m.msgs < want for m in members),
                }
            )
        elif cmd == "stop":
            pipe.send({"closed": sum(m.closed for m in members)})
            for m in members:
                if m.transport is not None:
                    m.transport.close()
            return


async def _sender(system: str, port: int) -> tuple[Any, Any]:
    if system == "roost":
        reader, writer, _ = await roost_session(port, "bigsender", join=[ROOM])
    else:
        reader, writer = await irc_session(port, "bigsender", [IRC_ROOM])
    return reader, writer


async def _send_one(system: str, reader: Any, writer: Any, n: int) -> int:
    """Send one message; returns its send time (ns)."""
    t = time.monotonic_ns()
    text = stamped_text(t)
    if system == "roost":
        writer.write(encode(Send(id=5000 + n, to=ROOM, text=text)))
    else:
        writer.write(f"PRIVMSG {IRC_ROOM} :{text}\r\n".encode())
    await writer.drain()
    return t


def run_big_room(system: str, port: int, members: int, procs: int, messages: int) -> dict[str, Any]:
    workers = Workers()
    loop = asyncio.new_event_loop()
    try:
        per = -(-members // procs)
        names = [f"m{i}" for i in range(members)]
        pipes = [
            workers.start(member_worker, system, port, names[i : i + per])
            for i in range(0, members, per)
        ]
        t_setup = time.monotonic()
        workers.gather(timeout=600)
        setup_s = time.monotonic() - t_setup
        time.sleep(0.5)  # presence of the logins dies down
        t0 = time.monotonic_ns()
        workers.send("join", pipes)
        joins = workers.gather(pipes, timeout=JOIN_TIMEOUT + 30)
        join_s = (max(j["last"] for j in joins) - t0) / 1e9
        reader, writer = loop.run_until_complete(_sender(system, port))
        time.sleep(0.3)
        latencies = []
        firsts = []  # until the first member has it: the server's part, mostly
        missing = 0
        for n in range(1, messages + 1):
            sent = loop.run_until_complete(_send_one(system, reader, writer, n))
            workers.send(("wait_msg", n), pipes)
            got = workers.gather(pipes, timeout=MSG_TIMEOUT + 30)
            missing += sum(g["missing"] for g in got)
            latencies.append((max(g["last"] for g in got) - sent) / 1e6)
            firsts.append((min(g["first"] for g in got) - sent) / 1e6)
            time.sleep(0.2)
        workers.send("stop", pipes)
        closed = sum(r["closed"] for r in workers.gather(pipes))
        writer.close()
    finally:
        workers.stop()
        loop.close()
    return {
        "system": system,
        "members": members,
        "setup_s": round(setup_s, 2),
        "join_all_s": round(join_s, 3),
        "join_missing": sum(j["missing"] for j in joins),
        "join_bytes_received": sum(j["bytes"] for j in joins),
        "msg_to_all_ms_max": round(max(latencies), 2),
        "msg_to_all_ms_median": round(statistics.median(latencies), 2),
        "msg_to_first_ms_median": round(statistics.median(firsts), 2),
        "msg_missing": missing,
        "closed": closed,
    }


def main() -> None:
    parser = base_args(__doc__ or "")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=2, help="client worker processes")
    parser.add_argument("--messages", type=int, default=5, help="messages timed, one by one")
    add_roost_config(parser)
    args = parser.parse_args()
    raise_fd_limit()
    if args.peers:
        ensure_peers()
    results: dict[str, Any] = {"load_before": load_average(), "host": HOST}
    with workdir("bigroom") as tmp:
        config = {**FAST_AUTH, **roost_overrides(args)}
        server = RoostServer(tmp, config=config).start()
        try:
            res = run_big_room("roost", server.port, args.members, args.procs, args.messages)
            res["server_rss_kib"] = rss_kib(server.pid)
            res["config"] = config
            results["roost"] = res
        finally:
            server.stop()
    if args.peers:
        with workdir("bigroom-ngircd") as tmp:
            irc = Ngircd(tmp).start()
            try:
                res = run_big_room("irc", irc.port, args.members, args.procs, args.messages)
                res["server_rss_kib"] = rss_kib(irc.pid)
                res["version"] = peer_version("ngircd")
                results["ngircd"] = res
            finally:
                irc.stop()
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
