"""Fan-out: 100 receivers and 4 senders in one room, 100-byte messages.

Senders pipeline with a bounded window in flight; receivers count what
arrives. Reports deliveries per second at the receivers, for Roost and (with
--peers) for ngircd.

    python bench/fanout.py [--peers] [--irc] [--duration 5] [--window 128]

--irc also runs Roost with the receivers on its IRC gateway (the senders stay native).
"""

from __future__ import annotations

import argparse
from typing import Any

from common import (
    Ngircd,
    RoostServer,
    add_roost_config,
    base_args,
    emit,
    ensure_peers,
    free_port,
    load_average,
    peer_version,
    raise_fd_limit,
    roost_overrides,
    rss_kib,
    workdir,
)
from load import RoomLoad, run_room_load


def _load(system: str, port: int, args: argparse.Namespace, irc_port: int = 0) -> RoomLoad:
    return RoomLoad(
        system,
        port,
        irc_port=irc_port,
        receivers=args.receivers,
        senders=args.senders,
        window=args.window,
        duration=args.duration,
    )


def roost_fanout(args: argparse.Namespace, **config: Any) -> dict[str, Any]:
    with workdir("fanout") as tmp:
        server = RoostServer(tmp, config=config).start()
        try:
            result = run_room_load(_load("roost", server.port, args), server_pid=server.pid)
            result["server_rss_kib"] = rss_kib(server.pid)
            result["config"] = config
            return result
        finally:
            server.stop()


def gateway_fanout(args: argparse.Namespace, **config: Any) -> dict[str, Any]:
    """Native senders, receivers on Roost's IRC gateway (docs/irc.md)."""
    config = {"irc_port": free_port(), **config}
    with workdir("fanout-irc") as tmp:
        server = RoostServer(tmp, config=config).start()
        try:
            load = _load("roost", server.port, args, irc_port=config["irc_port"])
            result = run_room_load(load, server_pid=server.pid)
            result["server_rss_kib"] = rss_kib(server.pid)
            result["config"] = config
            return result
        finally:
            server.stop()


def ngircd_fanout(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("fanout-ngircd") as tmp:
        server = Ngircd(tmp).start()
        try:
            result = run_room_load(_load("irc", server.port, args), server_pid=server.pid)
            result["version"] = peer_version("ngircd")
            return result
        finally:
            server.stop()


def add_load_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--window", type=int, default=128, help="messages in flight per sender")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of sending")
    parser.add_argument(
        "--irc", action="store_true", help="also with the receivers on Roost's IRC gateway"
    )


def main() -> None:
    parser = base_args(__doc__ or "")
    add_roost_config(parser)
    add_load_args(parser)
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "fanout", "load_before": load_average()}
    results["roost"] = roost_fanout(args, **roost_overrides(args))
    if args.irc:
        results["roost_irc"] = gateway_fanout(args, **roost_overrides(args))
    if args.peers:
        ensure_peers()
        results["ngircd"] = ngircd_fanout(args)
        results["ratio"] = round(
            results["roost"]["deliveries_per_s"] / max(1, results["ngircd"]["deliveries_per_s"]), 3
        )
        if args.irc:
            results["irc_ratio"] = round(
                results["roost_irc"]["deliveries_per_s"]
                / max(1, results["ngircd"]["deliveries_per_s"]),
                3,
            )
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
