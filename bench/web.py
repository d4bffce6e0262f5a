"""The web gateway: idle WebSocket sessions and fan-out to WebSocket receivers, each next to TCP.

Idle: accounts register once (40 accounts in 10 rooms), the server restarts,
and N sessions come back with session tokens (``resume``), once over TCP and
once over WebSockets, each on a freshly started server: the server's RSS
growth per session.

Fan-out: 100 receivers and 4 pipelining senders (TCP) in one room, 100-byte
messages (as bench/fanout.py), once with the receivers on TCP and once on
WebSockets, in the same run: deliveries per second and their ratio.

    python bench/web.py [--sessions 1000] [--duration 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from multiprocessing.connection import Connection
from typing import Any

from common import (
    RoostServer,
    base_args,
    emit,
    load_average,
    raise_fd_limit,
    recv_pipe,
    workdir,
)
from fanout import add_load_args
from idle import ACCOUNTS_PER_ROOM, ROOM_SIZE, _register, connect_all
from load import RoomLoad, run_room_load
from wsclient import ws_session

IN_FLIGHT = 50  # handshakes under way at once per worker


async def ws_connect_worker(
    pipe: Connection, system: str, web_port: int, first: int, count: int, tokens: list[str]
) -> None:
    """As bench/idle.py's connect_worker, over WebSockets (``system`` is "roost-ws")."""
    assert await recv_pipe(pipe) == "go"
    sem = asyncio.Semaphore(IN_FLIGHT)
    sockets: list[Any] = []
    t0 = time.monotonic_ns()

    async def one(i: int) -> None:
        async with sem:
            account = i // (ROOM_SIZE // ACCOUNTS_PER_ROOM)
            ws, _ = await ws_session(web_port, "", token=tokens[account])
            sockets.append(ws)

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(first, first + count))), 180)
    t1 = time.monotonic_ns()
    pipe.send({"t0": t0, "t1": t1, "n": count})
    assert await recv_pipe(pipe) == "close"
    for ws in sockets:
        await ws.close()
    pipe.send("closed")


def idle(args: argparse.Namespace) -> dict[str, Any]:
    accounts = max(1, args.sessions // ROOM_SIZE) * ACCOUNTS_PER_ROOM
    with workdir("web-idle") as tmp:
        server = RoostServer(tmp, config={"default_rooms": []}).start()
        try:
            tokens = asyncio.run(_register(server.port, accounts))
            out: dict[str, Any] = {}
            server.stop()
            server.start()
            out["tcp"] = connect_all("roost", server.port, server.pid, args.sessions, tokens)
            server.stop()
            server.start()
            out["ws"] = connect_all(
                "roost-ws", server.web_port, server.pid, args.sessions, tokens, ws_connect_worker
            )
            out["ratio_ws_to_tcp"] = round(
                out["ws"]["rss_per_conn_kib"] / max(1e-9, out["tcp"]["rss_per_conn_kib"]), 2
            )
            return out
        finally:
            server.stop()


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for over in ("tcp", "ws"):
        with workdir(f"web-fanout-{over}") as tmp:
            server = RoostServer(tmp).start()
            try:
                load = RoomLoad(
                    "roost",
                    server.port,
                    receivers=args.receivers,
                    senders=args.senders,
                    window=args.window,
                    duration=args.duration,
                    receivers_over=over,
                    web_port=server.web_port,
                )
                out[over] = run_room_load(load, server_pid=server.pid)
                out[over]["receivers_over"] = over
            finally:
                server.stop()
    out["ratio_ws_to_tcp"] = round(
        out["ws"]["deliveries_per_s"] / max(1, out["tcp"]["deliveries_per_s"]), 2
    )
    return out


def main() -> None:
    parser = base_args(__doc__ or "")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-fanout", action="store_true")
    add_load_args(parser)
    parser.set_defaults(duration=3.0)
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "web", "load_before": load_average()}
    if not args.skip_idle:
        results["idle"] = idle(args)
    if not args.skip_fanout:
        results["fanout"] = fanout(args)
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
