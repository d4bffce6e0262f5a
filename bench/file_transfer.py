"""File transfer throughput: a large file up to and down from a real server, vs a plain relay.

    python bench/file_transfer.py [--size-mib 1024] [--runs 2] [--dir /tmp]

Three measurements in one run, on loopback:

- relay: the same bytes, read from the same file, sent by this process through
  a minimal asyncio+uvloop relay process (two sockets, no framing, no checks)
  to a receiver in this process: the ceiling for moving bytes between two
  Python processes here;
- upload: ``Client.upload`` of the file to a ``roost serve`` process
  (framing, SHA-256 on both ends, write to the blob store, fsync);
- download: ``Client.download`` of it back (framing, write to a .part file,
  SHA-256 check, rename).

Reports each as GB/s and as a ratio to the relay, plus the server's and this
client's peak RSS growth during the transfers. Every transfer is bounded by a
timeout; all files live in a temporary folder that is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from roost.client import Client  # noqa: E402

MiB = 1024 * 1024
TIMEOUT = 300.0

RELAY = r"""
import asyncio, sys, uvloop

class Pipe(asyncio.Protocol):
    peer = None
    def connection_made(self, t):
        self.t = t
        self.early = []
        waiting.append(self)
        if len(waiting) == 2:
            a, b = waiting
            a.peer, b.peer = b, a
            for data in a.early:
                b.t.write(data)
            a.t.resume_reading()
        else:
            t.pause_reading()
    def data_received(self, data):
        if self.peer is None:  # arrived before the receiver connected
            self.early.append(data)
            self.t.pause_reading()
            return
        self.peer.t.write(data)
    def pause_writing(self):
        self.peer.t.pause_reading()
    def resume_writing(self):
        self.peer.t.resume_reading()
    def eof_received(self):
        self.peer.t.close()

waiting = []

async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Pipe, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)

uvloop.run(main())
"""


def rss_kib(pid: int | str = "self") -> tuple[int, int]:
    """(current, peak) resident set size of a process in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int | str = "self") -> None:
    """Make VmHWM start again from the current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def make_source(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def warm_pages(tmp: Path, size: int) -> None:
    """Write and delete a scratch file of ``size`` bytes.

    On this VM (virtio balloon) the first write into memory the guest has not
    used lately costs about four times as much system time as a write into
    pages just freed; without this, whichever transfer happens to run after a
    delete looks cheap and the next one dear. Called before every measured
    transfer that writes a file, the relay-plus-write included.
    """
    block = bytes(4 * MiB)
    scratch = tmp / "scratch.bin"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for _ in range(size // len(block) + 1):
            os.write(fd, block)
    finally:
        os.close(fd)
        scratch.unlink()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * MiB):
            h.update(block)
    return h.hexdigest()


async def relay_once(path: Path, size: int, sink: Path | None = None) -> tuple[float, float]:
    """(seconds, CPU seconds of both processes) to move the file's bytes through the relay.

    With ``sink``, the receiver also writes what it gets to that file (no
    hashing, no fsync): the cost of the disk writes any download must make.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", RELAY], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        _, w = await asyncio.open_connection("127.0.0.1", port)
        r, w2 = await asyncio.open_connection("127.0.0.1", port)

        async def receive() -> int:
            got = 0
            fd = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) if sink else -1
            try:
                while got < size:
                    data = await r.read(1 << 20)
                    if not data:
                        break
                    if fd >= 0:
                        os.write(fd, data)
                    got += len(data)
            finally:
                if fd >= 0:
                    os.close(fd)
                    os.unlink(sink)  # type: ignore[arg-type]
            return got

        async def send() -> None:
            with open(path, "rb", buffering=0) as f:
                while block := f.read(1 << 20):
                    w.write(block)
                    await w.drain()

        t0 = time.perf_counter()
        c0 = cpu_s() + cpu_s(proc.pid)
        receiver = asyncio.create_task(receive())
        await send()
        got = await asyncio.wait_for(receiver, TIMEOUT)
        elapsed = time.perf_counter() - t0
        cpu = cpu_s() + cpu_s(proc.pid) - c0
        assert got == size, f"relay delivered {got} of {size} bytes"
        w.close()
        w2.close()
        return elapsed, cpu
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def start_server(
    tmp: Path, size: int, extra: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], int]:
    cfg = {"max_file_size": size, "user_quota": 4 * size, "registration": "open", **extra}
    lines = [f"{k} = {json.dumps(v)}" for k, v in cfg.items()]
    (tmp / "server.toml").write_text("\n".join(lines) + "\n")
    port_file = tmp / "port"
    port_file.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "roost", "serve", "--port", "0", "--data-dir", str(tmp / "data"),
         "--config", str(tmp / "server.toml"), "--port-file", str(port_file)],
        stdout=log, stderr=log, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError((tmp / "server.log").read_text())


async def roost_once(
    tmp: Path, src: Path, size: int, run: int, extra: dict[str, Any], warm: bool
) -> dict[str, Any]:
    proc, port = start_server(tmp, size, extra)
    try:
        client = Client("127.0.0.1", port, f"bench{run}", "bench-password", register=True)
        await client.start()
        await client.ping()
        srv_before, _ = rss_kib(proc.pid)
        reset_peak(proc.pid)
        cli_before, _ = rss_kib()
        reset_peak()
        if warm:
            warm_pages(tmp, size)
        t0, c0 = time.perf_counter(), cpu_s() + cpu_s(proc.pid)
        sent = await asyncio.wait_for(client.upload(src, "general"), TIMEOUT)
        up, up_cpu = time.perf_counter() - t0, cpu_s() + cpu_s(proc.pid) - c0
        out = tmp / "out"
        out.mkdir(exist_ok=True)
        if warm:
            warm_pages(tmp, size)
        t0, c0 = time.perf_counter(), cpu_s() + cpu_s(proc.pid)
        saved = await asyncio.wait_for(client.download(sent.file.id, out), TIMEOUT)
        down, down_cpu = time.perf_counter() - t0, cpu_s() + cpu_s(proc.pid) - c0
        _, srv_peak = rss_kib(proc.pid)
        _, cli_peak = rss_kib()
        await client.close()
        assert saved.stat().st_size == size
        digest = sent.file.sha256
        saved.unlink()
        shutil.rmtree(tmp / "data" / "blobs", ignore_errors=True)
        return {
            "upload_s": up,
            "download_s": down,
            "upload_cpu_s": up_cpu,
            "download_cpu_s": down_cpu,
            "sha256": digest,
            "server_rss_growth_mib": (srv_peak - srv_before) / 1024,
            "client_rss_growth_mib": (cli_peak - cli_before) / 1024,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3, help="runs of each measurement; best is kept")
    ap.add_argument("--dir", default=None, help="parent of the temporary folder")
    ap.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="do not recycle page-cache memory before each transfer that writes a file",
    )
    ap.add_argument("--chunk-kib", type=int, default=0, help="chunk_size (0: server default)")
    args = ap.parse_args()
    size = args.size_mib * MiB
    extra: dict[str, Any] = {}
    if args.chunk_kib:
        extra = {"chunk_size": args.chunk_kib * 1024, "max_frame": args.chunk_kib * 1024 + 4096}
    tmp = Path(tempfile.mkdtemp(prefix="roost-bench-files-", dir=args.dir))
    try:
        src = tmp / "source.bin"
        make_source(src, size)
        expected = sha256_file(src)
        print(f"load before: {os.getloadavg()}", flush=True)
        relays: list[tuple[float, float]] = []
        to_disk: list[tuple[float, float]] = []
        results = []
        for run in range(args.runs):
            relays.append(await relay_once(src, size))
            if args.warm:
                warm_pages(tmp, size)
            to_disk.append(await relay_once(src, size, tmp / "relayed.bin"))
            res = await roost_once(tmp, src, size, run, extra, args.warm)
            assert res["sha256"] == expected, "the server stored other bytes"
            results.append(res)
            print(
                f"run {run}: relay {size / relays[-1][0] / 1e9:.2f} GB/s "
                f"({relays[-1][1]:.2f} CPU s), relay+write {size / to_disk[-1][0] / 1e9:.2f} GB/s "
                f"({to_disk[-1][1]:.2f} CPU s), "
                f"upload {size / res['upload_s'] / 1e9:.2f} GB/s ({res['upload_cpu_s']:.2f} CPU s), "
                f"download {size / res['download_s'] / 1e9:.2f} GB/s "
                f"({res['download_cpu_s']:.2f} CPU s), "
                f"server RSS +{res['server_rss_growth_mib']:.1f} MiB, "
                f"client RSS +{res['client_rss_growth_mib']:.1f} MiB",
                flush=True,
            )
        relay = min(r[0] for r in relays)
        relay_cpu = min(r[1] for r in relays)
        up = min(r["upload_s"] for r in results)
        down = min(r["download_s"] for r in results)
        up_cpu = min(r["upload_cpu_s"] for r in results)
        down_cpu = min(r["download_cpu_s"] for r in results)
        summary = {
            "size_mib": args.size_mib,
            "relay_gbps": size / relay / 1e9,
            "upload_gbps": size / up / 1e9,
            "download_gbps": size / down / 1e9,
            "upload_ratio": relay / up,
            "download_ratio": relay / down,
            # CPU seconds (client + server, all threads) per transfer; less sensitive to load.
            "relay_cpu_s": relay_cpu,
            # The relay whose receiver also writes the bytes to a file: what the disk costs.
            "relay_write_gbps": size / min(r[0] for r in to_disk) / 1e9,
            "relay_write_cpu_s": min(r[1] for r in to_disk),
            "upload_cpu_s": up_cpu,
            "download_cpu_s": down_cpu,
            "upload_cpu_ratio": relay_cpu / up_cpu,
            "download_cpu_ratio": relay_cpu / down_cpu,
            "server_rss_growth_mib": max(r["server_rss_growth_mib"] for r in results),
            "client_rss_growth_mib": max(r["client_rss_growth_mib"] for r in results),
            "warm_pages": args.warm,
            "load_after": os.getloadavg(),
        }
        print(json.dumps(summary, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    uvloop.run(main())
