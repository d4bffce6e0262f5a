"""CPU cost of the metrics counters on the fan-out path, in one process, without sockets.

Drives Server._fanout directly: RECEIVERS sessions in one room, whose
transports take every write at once; each fan-out carries MESSAGES
messages, as a busy room's loop turn does. Prints CPU nanoseconds per
delivery. Run it against two checkouts in the same session to compare, e.g.

    PYTHONPATH=/path/to/other/src python bench/metrics_cost.py
    python bench/metrics_cost.py

(the fan-out path is the same code in both except for what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.messages import Message
from roost.server.app import Server
from roost.server.config import ServerConfig
from roost.server.connection import ClientConnection
from roost.server.outbox import NORMAL, Outbox
from roost.server.state import Room


class NullTransport:
    """Takes every write at once (what a reader that keeps up looks like)."""

    def write(self, data: bytes | bytearray) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


async def measure(receivers: int, messages: int, fanouts: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(ServerConfig(data_dir=Path(tmp)))
        server._loop = asyncio.get_running_loop()
        room = Room("bench")
        server.state.rooms["bench"] = room
        for _ in range(receivers):
            conn = ClientConnection(server)
            conn.outbox = Outbox(NullTransport(), 1 << 20)  # type: ignore[arg-type]
            room.sessions.add(conn)
        frame = encode(Message(room="bench", seq=1, sender="b", text="x" * 100, ts=0.0))
        seq = 0
        start = time.process_time()
        for _ in range(fanouts):
            for _ in range(messages):
                seq += 1
                server.deliver(Envelope("bench", seq, NORMAL, frame))
            server._fanout()
        spent = time.process_time() - start
        return spent * 1e9 / (fanouts * messages * receivers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=4, help="messages per fan-out")
    parser.add_argument("--fanouts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    runs = [
        asyncio.run(measure(args.receivers, args.messages, args.fanouts))
        for _ in range(args.repeat)
    ]
    import roost.server.app as app

    print(
        json.dumps(
            {
                "bench": "metrics_cost",
                "source": str(Path(app.__file__).parent.parent.parent),
                "ns_per_delivery_median": round(statistics.median(runs), 1),
                "ns_per_delivery_min": round(min(runs), 1),
                "runs": [round(r, 1) for r in runs],
                **vars(args),
            }
        )
    )


if __name__ == "__main__":
    main()
