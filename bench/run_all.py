"""Run every benchmark and print a summary with ratios to the peers.

    python bench/run_all.py [--peers] [--repeat 1] [--out DIR]

Each benchmark runs as its own process (``bench/<name>.py --json-out``); its
JSON lands in --out (a temporary folder by default). With --repeat N the
suite runs N times and the table shows the median and the spread (min-max).
Before each benchmark the machine's load average is checked: the suite waits
(at most --settle seconds) for it to fall below --max-load, and records it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# (script, extra args)
BENCHES: list[tuple[str, list[str]]] = [
    ("fanout", []),
    ("latency", []),
    ("idle", []),
    ("durability", []),
    # Issue 13's client mix from a generator written from docs/protocol.md alone.
    ("outside", []),
    # One SDK process with 100 sessions against 100 byte counters in one process.
    ("sdk_receive", []),
]

Getter = Callable[[dict[str, Any]], float | None]


def _get(*path: str) -> Getter:
    def get(d: dict[str, Any]) -> float | None:
        cur: Any = d
        for p in path:
            if not isinstance(cur, dict) or p not in cur:
                return None
            cur = cur[p]
        return float(cur)

    return get


# label, bench, ours, peer name, peer, unit, target text, "higher" | "lower" is better
ROWS: list[tuple[str, str, Getter, str, Getter, str, str, str]] = [
    (
        "fan-out deliveries/s",
        "fanout",
        _get("roost", "deliveries_per_s"),
        "ngircd",
        _get("ngircd", "deliveries_per_s"),
        "/s",
        "ratio >= 1",
        "higher",
    ),
    (
        "fan-out: server CPU per delivery (ns)",
        "fanout",
        _get("roost", "server_ns_per_delivery"),
        "ngircd",
        _get("ngircd", "server_ns_per_delivery"),
        "ns",
        "-",
        "lower",
    ),
    (
        "latency p50 (ms)",
        "latency",
        _get("roost", "latency_ms", "p50"),
        "ngircd",
        _get("ngircd", "latency_ms", "p50"),
        "ms",
        "-",
        "lower",
    ),
    (
        "latency p99 (ms)",
        "latency",
        _get("roost", "latency_ms", "p99"),
        "ngircd",
        _get("ngircd", "latency_ms", "p99"),
        "ms",
        "ratio <= 1",
        "lower",
    ),
    (
        "idle RSS per connection (KiB)",
        "idle",
        _get("roost", "rss_per_conn_kib"),
        "ngircd",
        _get("ngircd", "rss_per_conn_kib"),
        "KiB",
        "ratio <= 1",
        "lower",
    ),
    (
        "idle: 5,000 sessions in (s)",
        "idle",
        _get("roost", "seconds_to_all_in"),
        "mosquitto",
        _get("mosquitto", "seconds_to_all_in"),
        "s",
        "ours <= 5 s",
        "lower",
    ),
    (
        "outside: p50 at 500 msg/s (ms)",
        "outside",
        _get("roost", "500", "latency_ms", "p50"),
        "ngircd",
        _get("ngircd", "500", "latency_ms", "p50"),
        "ms",
        "ratio <= 1.5",
        "lower",
    ),
    (
        "outside: p99 at 500 msg/s (ms)",
        "outside",
        _get("roost", "500", "latency_ms", "p99"),
        "ngircd",
        _get("ngircd", "500", "latency_ms", "p99"),
        "ms",
        "ratio <= 1",
        "lower",
    ),
    (
        "outside: p99 at 2,000 msg/s (ms)",
        "outside",
        _get("roost", "2000", "latency_ms", "p99"),
        "ngircd",
        _get("ngircd", "2000", "latency_ms", "p99"),
        "ms",
        "ratio <= 1",
        "lower",
    ),
    (
        "outside: server CPU at 500 msg/s (cores)",
        "outside",
        _get("roost", "500", "server_cpu"),
        "ngircd",
        _get("ngircd", "500", "server_cpu"),
        "",
        "ratio <= 1.2",
        "lower",
    ),
    (
        "outside: eager fan-out deliveries/s",
        "outside",
        _get("roost", "fanout", "deliveries_per_s"),
        "InspIRCd",
        _get("inspircd", "fanout", "deliveries_per_s"),
        "/s",
        "ratio >= 1",
        "higher",
    ),
    (
        "SDK: deliveries/s one SDK process takes at 1 M/s offered",
        "sdk_receive",
        _get("sdk_paced", "deliveries_per_s"),
        "byte counters",
        _get("tcp_paced", "deliveries_per_s"),
        "/s",
        "ratio >= 1",
        "higher",
    ),
    (
        "durability: deliveries/s ack after store",
        "durability",
        _get("ack_after_store"),
        "ack before store",
        _get("ack_before_store"),
        "/s",
        "ratio >= 0.8",
        "higher",
    ),
]


def wait_for_quiet(max_load: float, settle: float) -> float:
    deadline = time.monotonic() + settle
    load = os.getloadavg()[0]
    while load > max_load and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def run_suite(args: argparse.Namespace, out: Path, round_no: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, extra in BENCHES:
        if args.only and name not in args.only:
            continue
        load = wait_for_quiet(args.max_load, args.settle)
        path = out / f"{name}-{round_no}.json"
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--json-out", str(path), *extra]
        if args.peers and name != "durability":
            cmd.append("--peers")
        print(f"[round {round_no}] {name} (load {load:.2f}) ...", file=sys.stderr, flush=True)
        t = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=600)
        if proc.returncode != 0:
            print(f"  {name} failed with status {proc.returncode}", file=sys.stderr)
            continue
        results[name] = json.loads(path.read_text())
        results[name]["wall_seconds"] = round(time.monotonic() - t, 1)
    return results


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "/s":
        return f"{v / 1e6:.2f} M" if v >= 1e5 else f"{v:,.0f}"
    return f"{v:.3g}"


def _spread(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return _fmt(med, unit)
    return f"{_fmt(med, unit)} [{_fmt(min(values), unit)}-{_fmt(max(values), unit)}]"


def summary(rounds: list[dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| benchmark | Roost | peer | peer figure | ratio | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, bench, ours_get, peer_name, peer_get, unit, target, _better in ROWS:
        ours = [v for r in rounds if bench in r for v in [ours_get(r[bench])] if v is not None]
        peer = [v for r in rounds if bench in r for v in [peer_get(r[bench])] if v is not None]
        ratios = [
            o / p
            for r in rounds
            if bench in r
            for o, p in [(ours_get(r[bench]), peer_get(r[bench]))]
            if o is not None and p
        ]
        ratio = _spread(ratios, "x") if ratios else "-"
        lines.append(
            f"| {label} | {_spread(ours, unit)} | {peer_name} | {_spread(peer, unit)}"
            f" | {ratio} | {target} |"
        )
    loads = [r[b].get("load_before") for r in rounds for b in r if "load_before" in r[b]]
    if loads:
        lines.append("")
        lines.append(f"load average before the benchmarks: {min(loads):.2f}-{max(loads):.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peers", action="store_true", help="measure ngircd and mosquitto too")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, help="folder for the JSON results")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--max-load", type=float, default=1.0, help="wait for a load below this")
    parser.add_argument("--settle", type=float, default=60.0, help="longest wait for that")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="roost-bench-results-"))
    out.mkdir(parents=True, exist_ok=True)
    rounds = [run_suite(args, out, i + 1) for i in range(args.repeat)]
    (out / "all.json").write_text(json.dumps(rounds, indent=2) + "\n")
    print(summary(rounds))
    print(f"\nresults in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
