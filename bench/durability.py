"""Durability cost: fan-out deliveries/s with ack_after_store on and off.

``ack_after_store = true`` (the default) acknowledges and delivers a message
only once its group commit is done; ``false`` publishes at once and stores
behind. The two modes alternate (on, off, on, off, ...) so a change in the
machine's load hits both alike; the best run of each is compared.

    python bench/durability.py [--rounds 2] [--duration 5]
"""

from __future__ import annotations

from typing import Any

from common import base_args, emit, load_average, raise_fd_limit
from fanout import add_load_args, roost_fanout


def main() -> None:
    parser = base_args(__doc__ or "")
    add_load_args(parser)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"bench": "durability", "load_before": load_average()}
    runs: dict[str, list[int]] = {"ack_after_store": [], "ack_before_store": []}
    for _ in range(args.rounds):
        for key, flag in (("ack_after_store", True), ("ack_before_store", False)):
            r = roost_fanout(args, ack_after_store=flag)
            runs[key].append(r["deliveries_per_s"])
            results.setdefault(f"{key}_runs", []).append(
                {k: r[k] for k in ("deliveries_per_s", "sent", "complete", "gaps", "server_cpu")}
            )
    on, off = max(runs["ack_after_store"]), max(runs["ack_before_store"])
    results["ack_after_store"] = on
    results["ack_before_store"] = off
    results["ratio"] = round(on / max(1, off), 3)
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
