"""Latency: p50/p99 delivery latency at a steady rate into a 100-member room.

Senders send 2,000 messages/s in total (200,000 deliveries/s to 100 receivers),
each text carrying its send time (CLOCK_MONOTONIC, shared by all processes on
the machine); every 10th receiver records the delay of each message it gets.
Roost acknowledges after the store (the default). With --peers, the same
against ngircd.

    python bench/latency.py [--peers] [--rate 2000] [--duration 5]
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
        duration=args.duration,
        rate=args.rate,
        stamp_every=args.stamp_every,
    )


def roost_latency(args: argparse.Namespace, **config: Any) -> dict[str, Any]:
    with workdir("latency") as tmp:
        server = RoostServer(tmp, config={"ack_after_store": True, **config}).start()
        try:
            result = run_room_load(_load("roost", server.port, args), server_pid=server.pid)
            result["config"] = {"ack_after_store": True, **config}
            return result
        finally:
            server.stop()


def gateway_latency(args: argparse.Namespace, **config: Any) -> dict[str, Any]:
    """Native senders, receivers on Roost's IRC gateway (docs/irc.md)."""
    config = {"ack_after_store": True, "irc_port": free_port(), **config}
    with workdir("latency-irc") as tmp:
        server = RoostServer(tmp, config=config).start()
        try:
            load = _load("roost", server.port, args, irc_port=config["irc_port"])
            result = run_room_load(load, server_pid=server.pid)
            result["config"] = config
            return result
        finally:
            server.stop()


def ngircd_latency(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("latency-ngircd") as tmp:
        server = Ngircd(tmp).start()
        try:
            result = run_room_load(_load("irc", server.port, args), server_pid=server.pid)
            result["version"] = peer_version("ngircd")
            return result
        finally:
            server.stop()


def main() -> None:
    parser = base_args(__doc__ or "")
    add_roost_config(parser)
    parser.add_argument("--rate", type=float, default=2000.0, help="messages/s over all senders")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--stamp-every", type=int, default=10, help="every k-th receiver samples")
    parser.add_argument(
        "--irc", action="store_true", help="also with the receivers on Roost's IRC gateway"
    )
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "latency", "load_before": load_average()}
    results["roost"] = roost_latency(args, **roost_overrides(args))
    if args.irc:
        results["roost_irc"] = gateway_latency(args, **roost_overrides(args))
    if args.peers:
        ensure_peers()
        results["ngircd"] = ngircd_latency(args)
        ours, theirs = results["roost"]["latency_ms"], results["ngircd"]["latency_ms"]
        results["ratio_p50"] = round(ours["p50"] / theirs["p50"], 3)
        results["ratio_p99"] = round(ours["p99"] / theirs["p99"], 3)
        if args.irc:
            gw = results["roost_irc"]["latency_ms"]
            results["irc_ratio_p50"] = round(gw["p50"] / theirs["p50"], 3)
            results["irc_ratio_p99"] = round(gw["p99"] / theirs["p99"], 3)
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
