"""What one small write to a loopback TCP socket costs, with and without Nagle.

Explains the latency benchmark: a fan-out is one ``write`` per recipient, and
ngircd leaves Nagle's algorithm on (it sets no TCP_NODELAY) while Roost turns
it off. With Nagle, a write to a reader that has not acknowledged the
previous data only queues it in the kernel; it goes out with the next ACK.

N sockets on loopback; a child process reads them, either every 20 ms
("lazy", like 90 of the latency benchmark's receivers) or as fast as it can
("busy"). The parent writes ``--size`` bytes to each socket, ``--rounds``
times, 0.5 ms apart (2,000 rounds a second, as the latency benchmark's
message rate), and reports its own CPU time per write.

    python bench/write_cost.py [--sockets 100] [--rounds 2000] [--size 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import time
from pathlib import Path
from typing import Any

from common import emit, load_average


def _reader(port: int, sockets: int, lazy: bool, seconds: float) -> None:
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(sockets)]
    for c in conns:
        c.setblocking(False)
    poller = select.epoll()
    for c in conns:
        poller.register(c.fileno(), select.EPOLLIN)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if lazy:
            time.sleep(0.02)
        else:
            poller.poll(0.1)
        for c in conns:
            try:
                while c.recv(1 << 16):
                    pass
            except BlockingIOError:
                pass
    os._exit(0)


def measure(sockets: int, rounds: int, size: int, nodelay: bool, lazy: bool) -> dict[str, Any]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(sockets)
    port = listener.getsockname()[1]
    # Bounded: the reader stops by itself after rounds * 0.5 ms plus a margin.
    pid = os.fork()
    if pid == 0:
        _reader(port, sockets, lazy, rounds * 0.0005 + 10)
    try:
        conns = [listener.accept()[0] for _ in range(sockets)]
        for c in conns:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
            c.setblocking(False)
        data = b"x" * size
        writes = 0
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(rounds):
            for c in conns:
                try:
                    c.send(data)
                    writes += 1
                except BlockingIOError:
                    pass
            time.sleep(0.0005)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        for c in conns:
            c.close()
    finally:
        os.kill(pid, signal.SIGKILL)  # the reader we forked, by its id
        os.waitpid(pid, 0)
        listener.close()
    user = r1.ru_utime - r0.ru_utime
    system = r1.ru_stime - r0.ru_stime
    return {
        "writes": writes,
        "us_per_write": round((user + system) / max(1, writes) * 1e6, 2),
        "us_per_write_kernel": round(system / max(1, writes) * 1e6, 2),
    }


def main() -> None:
    # No --peers (base_args): this measures the kernel, not a server.
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json-out", type=Path, help="write the results here as JSON")
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, Any] = {"bench": "write_cost", "load_before": load_average()}
    for reader in ("lazy", "busy"):
        for nodelay in (True, False):
            key = f"{reader}_reader_{'nodelay' if nodelay else 'nagle'}"
            results[key] = measure(args.sockets, args.rounds, args.size, nodelay, reader == "lazy")
    results["load_after"] = load_average()
    emit(results, args.json_out)


if __name__ == "__main__":
    main()
