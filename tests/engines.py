"""Real PostgreSQL and redis-server for the cluster tests, started in temporary folders.

Both run on free loopback ports, with their files in a temporary folder, and
are stopped (by the pid we started) when the test session ends. PostgreSQL's
initdb refuses to run as root, so as root the server runs as ``nobody``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def check_installed() -> None:
    """Fail (never skip) with what to install when an engine is missing."""
    missing = []
    if _pg_bin() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if missing:
        raise RuntimeError(
            f"the cluster tests need the Debian packages {' '.join(missing)}:"
            " run scripts/install-test-deps.sh"
        )


@dataclass
class Postgres:
    """One PostgreSQL cluster (initdb) in a temporary folder."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _demote: Callable[[], None] | None = None
    _user: str = ""
    databases: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def sockets(self) -> Path:
        return self.root / "sock"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://roost@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, args: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            args,
            check=True,
            capture_output=True,
            preexec_fn=self._demote,
            timeout=60,
            **kw,  # type: ignore[call-overload]
        )

    def init(self) -> None:
        bindir = _pg_bin()
        assert bindir is not None
        self.bindir = bindir
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # initdb refuses root: the cluster belongs to nobody.
            uid, gid = 65534, 65534
            for path in (self.root, self.sockets):
                os.chown(path, uid, gid)

            def demote() -> None:
                os.setgid(gid)
                os.setuid(uid)

            self._demote = demote
        self._as_owner(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "roost",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )

    def start(self) -> None:
        if not self.port:
            self.port = free_port()
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=32MB",
            ],
            stdout=log,
            stderr=log,
            preexec_fn=self._demote,
        )
        log.close()
        _wait_port(self.port, self.proc, "postgres", 30)
        # Listening is not accepting yet (the startup may still be recovering).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres is not ready")

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown: clients are disconnected."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def new_database(self) -> str:
        """A fresh, empty database; returns its DSN."""
        name = "t_" + uuid.uuid4().hex[:12]
        subprocess.run(
            [
                str(self.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "roost",
                name,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.databases.append(name)
        return self.dsn(name)


@dataclass
class Redis:
    """One redis-server without persistence."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        _wait_port(self.port, self.proc, "redis-server", 15)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Engines:
    """The running PostgreSQL and Redis of a test session."""

    postgres: Postgres
    redis: Redis
    root: Path

    def stop(self) -> None:
        self.redis.stop()
        self.postgres.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_engines() -> Engines:
    check_installed()
    root = Path(tempfile.mkdtemp(prefix="roost-engines-"))
    os.chmod(root, 0o755)
    pg = Postgres(root / "pg")
    redis = Redis(root / "redis")
    try:
        pg.init()
        pg.start()
        redis.start()
    except BaseException:
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Engines(pg, redis, root)
