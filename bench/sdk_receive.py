"""The SDK as a receiver: can one SDK process keep up with 1 M deliveries/s?

Issue 13 asks that the SDK client keep up with what it receives: a single SDK
process receiving 100 conversations at 1 M deliveries/s without falling
behind. Here 100 ``roost.client.Client`` sessions (one account each) live in
one process, each reading ``events()`` to the end and counting the room's
messages: what an application sees (decoded, in order, gaps filled from
history), not bytes on the wire. 4 senders (another process, the bench's raw
pipelining senders) send 100-character texts into the room at ``--rate``
messages/s in total (10,000: 1 M deliveries/s for 100 receivers), then
unpaced. The same loads run with 100 byte-counting receivers in one process
(bench/load.py's ``Counter``: the most a process can take at all) for
comparison. Reported per setup: deliveries/s at the receivers over the
sending window, whether every receiver got every message, the server's gap
notices, the receiving process's CPU (cores), and ``catch_up_s``, how long
deliveries kept growing after the senders were done (a receiver that keeps
up catches up within one 0.25 s poll).

    python bench/sdk_receive.py [--rate 10000] [--duration 5] [--json-out FILE]

Everything runs on 127.0.0.1 against a server started here; every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
from typing import Any

from common import (
    RoostServer,
    add_roost_config,
    base_args,
    emit,
    load_average,
    raise_fd_limit,
    roost_overrides,
    workdir,
)
from load import RoomLoad, run_room_load


def _run(args: argparse.Namespace, over: str, rate: float, **config: Any) -> dict[str, Any]:
    with workdir(f"sdk-{over}") as tmp:
        server = RoostServer(tmp, config=config).start()
        try:
            load = RoomLoad(
                "roost",
                server.port,
                receivers=args.receivers,
                senders=args.senders,
                receiver_procs=1,
                window=args.window,
                duration=args.duration,
                rate=rate,
                receivers_over=over,
            )
            result = run_room_load(load, server_pid=server.pid)
            result["receivers_over"] = over
            result["rate_asked"] = rate
            return result
        finally:
            server.stop()


def main() -> None:
    parser = base_args(__doc__ or "")
    add_roost_config(parser)
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--window", type=int, default=128, help="messages in flight per sender")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of sending")
    parser.add_argument(
        "--rate", type=float, default=10_000.0, help="messages/s of the paced runs, all senders"
    )
    args = parser.parse_args()
    raise_fd_limit()
    config = roost_overrides(args)
    results: dict[str, Any] = {"bench": "sdk_receive", "load_before": load_average()}
    for over in ("sdk", "tcp"):
        results[f"{over}_paced"] = _run(args, over, args.rate, **config)
        results[f"{over}_unpaced"] = _run(args, over, 0.0, **config)
    results["sdk_share_of_raw_unpaced"] = round(
        results["sdk_unpaced"]["deliveries_per_s"]
        / max(1, results["tcp_unpaced"]["deliveries_per_s"]),
        3,
    )
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
