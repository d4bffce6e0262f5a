"""What the priority and buffer benchmarks share: a server they start and stop, raw clients.

Loopback only. The server is started as `python -m roost serve` and stopped
by its PID in a ``finally``; nothing is looked up or killed by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import (
    HOST,
    PASSWORD,
    SRC,
    toml_value,
)
from roost.protocol.codec import client_decoder, encode
from roost.protocol.messages import PROTOCOL_VERSION, ClientHello, Login, Ok

FAST_AUTH = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
# The benchmarks measure delivery, so the flood protection (docs/moderation.md),
# whose defaults suit people typing, is off: senders here send thousands a second.
NO_RATE_LIMITS = {
    "msg_rate": 0,
    "bytes_rate": 0,
    "account_msg_rate": 0,
    "account_bytes_rate": 0,
    "max_connections_per_address": 0,
}


def env() -> dict[str, str]:
    out = dict(os.environ, ROOST_PASSWORD=PASSWORD)
    out["PYTHONPATH"] = str(SRC) + os.pathsep + out.get("PYTHONPATH", "")
    return out


def uptime() -> str:
    """`uptime` output: the machine's load when the figures were taken."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def add_user(data_dir: Path, name: str, priority: str) -> None:
    """An account with an administrator-set priority level, made before the server starts."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "roost",
            "user",
            "add",
            name,
            "--priority",
            priority,
            "--data-dir",
            str(data_dir),
            "--create",  # the first account makes the data folder (the CLI asks for this)
        ],
        check=True,
        capture_output=True,
        env=env(),
    )


@contextlib.contextmanager
def roost_server(
    config: dict[str, Any], users: dict[str, str] | None = None
) -> Iterator[tuple[int, int]]:
    """A server in a fresh data folder; yields (port, pid); stopped by PID at the end."""
    # The data folder on tmpfs where there is one: the figures are about delivery,
    # not about how busy the disk shared with other work is.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="roost-bench-", dir=shm) as tmp:
        work = Path(tmp)
        data = work / "data"
        for name, level in (users or {}).items():
            add_user(data, name, level)
        cfg = work / "roost.toml"
        cfg.write_text(
            "".join(
                f"{k} = {toml_value(v)}\n"
                for k, v in {**FAST_AUTH, **NO_RATE_LIMITS, **config}.items()
            )
        )
        port_file = work / "port"
        log = open(work / "log", "ab")  # noqa: SIM115 - handed to the child
        args = [sys.executable, "-m", "roost", "serve", "--host", HOST, "--port", "0"]
        args += ["--data-dir", str(data), "--config", str(cfg), "--port-file", str(port_file)]
        proc = subprocess.Popen(args, stdout=log, stderr=log, env=env())
        log.close()
        try:
            deadline = time.monotonic() + 20
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "log").read_text())
                time.sleep(0.02)
            yield int(port_file.read_text()), proc.pid
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()


async def raw_login(port: int, user: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection, logged in (registering ``user`` if needed)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    decoder = client_decoder()
    writer.write(encode(ClientHello(version=PROTOCOL_VERSION)))
    writer.write(encode(Login(id=1, user=user, password=PASSWORD, register=True)))
    while True:
        data = await asyncio.wait_for(reader.read(65536), 20)
        if not data:
            raise RuntimeError(f"{user}: connection closed during login")
        for msg in decoder.feed(data):
            if getattr(msg, "id", None) == 1:
                if not isinstance(msg, Ok):
                    raise RuntimeError(f"{user}: login failed: {msg}")
                return reader, writer


def count_markers(carry: bytes, data: bytes, marker: bytes) -> tuple[int, bytes]:
    """Occurrences of ``marker`` in a stream read in pieces; returns (count, new carry)."""
    buf = carry + data
    keep = len(marker) - 1
    return buf.count(marker) - carry.count(marker), buf[-keep:]
