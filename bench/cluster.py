"""Cluster mode: two nodes on PostgreSQL + Redis against one node, in one run.

100 receivers and 4 senders in one room, split across the nodes of each
setup: two nodes on one PostgreSQL and one Redis; one node on PostgreSQL and
Redis; one node on SQLite (the default). For each: p50/p99 delivery latency
at a steady 2,000 messages/s, then deliveries/s with the senders unpaced
(window 128). With --peers, ngircd's latency at the same rate. The engines
are started here (tests/engines.py), on free loopback ports, and stopped.

With the engines, their CPU use while the load runs is reported too
(``postgres_cpu``, ``redis_cpu``, in cores; PostgreSQL's is the postmaster's and
all its backends'), and the nodes' together (``nodes_cpu``): what tells which
part would saturate first.

    python bench/cluster.py [--peers] [--rate 2000] [--duration 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    SRC,
    Ngircd,
    RoostServer,
    base_args,
    emit,
    ensure_peers,
    load_average,
    peer_version,
    raise_fd_limit,
    workdir,
)
from load import RoomLoad, run_room_load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from engines import Engines, start_engines  # the tests' engines


def _migrate(dsn: str) -> None:
    env = {"PYTHONPATH": str(SRC)}
    subprocess.run(
        [sys.executable, "-m", "roost", "db", "migrate", "--store", dsn],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its exited children and its live children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            stat = (child / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid:
                total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue  # gone meanwhile
    return total


class _CpuMeter:
    """CPU use in cores of some process trees between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.cpu0: dict[str, float] = {}

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = {k: _tree_cpu(p) for k, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        span = max(1e-9, time.monotonic() - self.t0)
        return {k: round((_tree_cpu(p) - self.cpu0[k]) / span, 2) for k, p in self.pids.items()}


def _run(
    setup: str, args: argparse.Namespace, engines: Engines | None, nodes: int, paced: bool
) -> dict[str, Any]:
    config: dict[str, Any] = {"ack_after_store": True}
    if engines is not None:
        dsn = engines.postgres.new_database()
        _migrate(dsn)
        # A channel of its own: nodes of an earlier setup are gone, but to be sure.
        config |= {"store": dsn, "bus": engines.redis.url, "cluster_channel": setup}
    with workdir(f"cluster-{setup}") as tmp:
        servers = []
        try:
            for i in range(nodes):
                (tmp / f"n{i}").mkdir()
                servers.append(RoostServer(tmp / f"n{i}", config=config).start())
            load = RoomLoad(
                "roost",
                servers[0].port,
                receivers=args.receivers,
                senders=args.senders,
                duration=args.duration,
                rate=args.rate if paced else 0.0,
                window=args.window,
                stamp_every=args.stamp_every if paced else 0,
                ports=tuple(s.port for s in servers),
            )
            pids = {f"node{i}": s.pid for i, s in enumerate(servers)}
            if engines is not None:
                assert engines.postgres.proc is not None and engines.redis.proc is not None
                pids |= {"postgres_cpu": engines.postgres.proc.pid}
                pids |= {"redis_cpu": engines.redis.proc.pid}
            meter = _CpuMeter(pids)
            cpu: dict[str, float] = {}
            result = run_room_load(
                load,
                server_pid=servers[0].pid,
                on_go=meter.start,
                on_sent=lambda: cpu.update(meter.stop()),
            )
            result["nodes_cpu"] = round(sum(v for k, v in cpu.items() if k.startswith("node")), 2)
            result |= {k: v for k, v in cpu.items() if not k.startswith("node")}
            result["setup"] = setup
            result["nodes"] = nodes
            return result
        finally:
            for s in servers:
                s.stop()


def _ngircd(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("cluster-ngircd") as tmp:
        server = Ngircd(tmp).start()
        try:
            load = RoomLoad(
                "irc",
                server.port,
                receivers=args.receivers,
                senders=args.senders,
                duration=args.duration,
                rate=args.rate,
                stamp_every=args.stamp_every,
            )
            result = run_room_load(load, server_pid=server.pid)
            result["version"] = peer_version("ngircd")
            return result
        finally:
            server.stop()


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("deliveries_per_s", "msgs_per_s", "latency_ms", "sent", "acked", "errors", "gaps")
    keys += ("delivered_min", "delivered_max", "server_cpu", "nodes_cpu", "postgres_cpu")
    keys += ("redis_cpu", "closed")
    return {k: r[k] for k in keys if k in r}


def main() -> None:
    parser = base_args(__doc__ or "")
    parser.add_argument("--rate", type=float, default=2000.0, help="messages/s over all senders")
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--stamp-every", type=int, default=10)
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "cluster", "load_before": load_average()}
    engines = start_engines()
    try:
        for paced, kind in ((True, "latency"), (False, "throughput")):
            results[kind] = {
                "two_nodes_pg_redis": _brief(_run("two", args, engines, 2, paced)),
                "one_node_pg_redis": _brief(_run("one", args, engines, 1, paced)),
                "one_node_sqlite": _brief(_run("sqlite", args, None, 1, paced)),
            }
    finally:
        engines.stop()
    lat = results["latency"]
    base = lat["one_node_sqlite"]["latency_ms"]["p99"]
    results["p99_two_nodes_over_sqlite"] = round(
        lat["two_nodes_pg_redis"]["latency_ms"]["p99"] / base, 2
    )
    thr = results["throughput"]
    results["pg_throughput_over_sqlite"] = round(
        thr["one_node_pg_redis"]["deliveries_per_s"]
        / max(1, thr["one_node_sqlite"]["deliveries_per_s"]),
        2,
    )
    if args.peers:
        ensure_peers()
        results["ngircd_latency"] = _brief(_ngircd(args))
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
