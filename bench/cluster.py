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
        [--only one,sqlite] [--latency-only] [--repeat N]

``--only`` runs some setups (``two``, ``one``, ``sqlite``; the ratios need
``two``/``one`` with ``sqlite``), ``--latency-only`` skips the unpaced runs,
``--repeat N`` runs the chosen latency setups N times, interleaved (one, sqlite,
one, sqlite...), on the same engines.
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


# name: (result key, nodes, on PostgreSQL + Redis)
SETUPS: dict[str, tuple[str, int, bool]] = {
    "two": ("two_nodes_pg_redis", 2, True),
    "one": ("one_node_pg_redis", 1, True),
    "sqlite": ("one_node_sqlite", 1, False),
}


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
    parser.add_argument("--only", default="two,one,sqlite", help="setups: two,one,sqlite")
    parser.add_argument("--latency-only", action="store_true", help="no unpaced runs")
    parser.add_argument("--repeat", type=int, default=1, help="latency runs of each setup")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SETUPS)
    if unknown:
        parser.error(f"unknown setups {sorted(unknown)}: choose from {', '.join(SETUPS)}")
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "cluster", "load_before": load_average()}
    engines = start_engines()
    try:
        kinds = (
            ((True, "latency"),)
            if args.latency_only
            else ((True, "latency"), (False, "throughput"))
        )
        for paced, kind in kinds:
            results[kind] = {}
            for _round in range(args.repeat if paced else 1):
                for name in only:
                    key, nodes, pg = SETUPS[name]
                    result = _brief(_run(name, args, engines if pg else None, nodes, paced))
                    result["load"] = load_average()
                    if args.repeat > 1 and paced:
                        results[kind].setdefault(key, []).append(result)
                    else:
                        results[kind][key] = result
    finally:
        engines.stop()
    if args.repeat == 1:
        lat, thr = results["latency"], results.get("throughput", {})
        if "one_node_sqlite" in lat:
            base = lat["one_node_sqlite"]["latency_ms"]["p99"]
            for key, name in (
                ("two_nodes_pg_redis", "two_nodes"),
                ("one_node_pg_redis", "one_node"),
            ):
                if key in lat:
                    ratio = round(lat[key]["latency_ms"]["p99"] / base, 2)
                    results[f"p99_{name}_over_sqlite"] = ratio
        if "one_node_pg_redis" in thr and "one_node_sqlite" in thr:
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
