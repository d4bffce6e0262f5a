"""Shared fixtures: a real `roost serve` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from roost.store.base import Store
from store_helpers import BACKENDS, open_store

SRC = Path(__file__).resolve().parent.parent / "src"
PASSWORD = "correct horse"


def roost_env(**extra: str) -> dict[str, str]:
    """Environment for a `roost` subprocess that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("ROOST_PASSWORD", PASSWORD)
    env.update(extra)
    return env


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


@dataclass
class RunningServer:
    """A server process started by a test; stopped by the fixture."""

    data_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    web_port: int = 0  # the web client's, once started
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    preexec: Any = None  # run in the child before exec (e.g. to set resource limits)
    args: list[str] = field(default_factory=list)  # more `roost serve` options (e.g. -v)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> RunningServer:
        cfg_path = self.data_dir.parent / f"{self.data_dir.name}.toml"
        if self.web_port:
            self.config["web_port"] = self.web_port  # a restart keeps the page's address
        lines = [f"{k} = {toml_value(v)}" for k, v in self.config.items()]
        cfg_path.write_text("\n".join(lines) + "\n")
        port_file = self.data_dir.parent / f"{self.data_dir.name}.port"
        port_file.unlink(missing_ok=True)
        web_port_file = self.data_dir.parent / f"{self.data_dir.name}.webport"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        args = [sys.executable, "-m", "roost", "serve", "--host", self.host]
        args += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += ["--config", str(cfg_path), "--port-file", str(port_file)]
        args += ["--web-port-file", str(web_port_file), *self.args]
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=log, env=roost_env(), preexec_fn=self.preexec
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                if web_port_file.exists():
                    self.web_port = int(web_port_file.read_text())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            time.sleep(0.02)
        raise RuntimeError(f"server did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Stop the process (SIGTERM by default); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> RunningServer:
        """Stop and start on the same port and data folder."""
        self.stop()
        return self.start()


# The rate limits' defaults suit people chatting; other tests send hundreds of
# pipelined messages and open many connections from 127.0.0.1 on purpose, so
# their servers run without them. Tests of the protection set their own values.
RELAXED_LIMITS = {
    "msg_rate": 0,
    "bytes_rate": 0,
    "account_msg_rate": 0,
    "account_bytes_rate": 0,
    "max_connections_per_address": 0,
    "search_rate": 0,
}


@pytest.fixture(autouse=True, scope="session")
def client_files_apart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Clients run by tests keep their files (client.toml, read markers) out of ~/.config."""
    old = os.environ.get("ROOST_CONFIG_DIR")
    os.environ["ROOST_CONFIG_DIR"] = str(tmp_path_factory.mktemp("client-config"))
    yield
    if old is None:
        os.environ.pop("ROOST_CONFIG_DIR", None)
    else:
        os.environ["ROOST_CONFIG_DIR"] = old


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start servers with a given config; all are stopped at the end of the test."""
    started: list[RunningServer] = []

    def make(name: str = "data", args: list[str] | None = None, **config: Any) -> RunningServer:
        # Every test server serves the web client on a free port of its own.
        srv = RunningServer(
            tmp_path / name, {"web_port": 0, **RELAXED_LIMITS, **config}, args=args or []
        )
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory: Any) -> RunningServer:
    """A fresh server with the default configuration."""
    srv: RunningServer = server_factory()
    return srv


def run_cli(
    *args: str, timeout: float = 30.0, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `roost ARGS...` as a user would; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "roost", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=roost_env(**env),
        input=input,
    )


@pytest.fixture(scope="session")
def engines() -> Iterator[Any]:
    """A real PostgreSQL and redis-server for the whole session (tests/engines.py)."""
    from engines import start_engines

    running = start_engines()
    yield running
    running.stop()


@pytest.fixture
def pg_dsn(engines: Any) -> str:
    """A fresh PostgreSQL database of its own for one test."""
    dsn: str = engines.postgres.new_database()
    return dsn


@pytest.fixture
def redis_url(engines: Any) -> str:
    """The session's redis-server, emptied for this test."""
    import redis

    client = redis.Redis.from_url(engines.redis.url)
    try:
        client.flushall()
    finally:
        client.close()
    url: str = engines.redis.url
    return url


def migrated(dsn: str) -> str:
    """Create the schema in a PostgreSQL database with `roost db migrate`, as an operator does."""
    done = run_cli("db", "migrate", "--store", dsn)
    assert done.returncode == 0, done.stderr
    return dsn


@pytest.fixture(params=["sqlite", "postgres"])
def any_server(request: pytest.FixtureRequest, server_factory: Any) -> RunningServer:
    """A server on each store backend in turn (for the behaviour both must share)."""
    if request.param == "postgres":
        dsn = migrated(request.getfixturevalue("pg_dsn"))
        srv: RunningServer = server_factory(store=dsn)
        return srv
    srv = server_factory()
    return srv


@pytest.fixture
def cluster(server_factory: Any, pg_dsn: str, redis_url: str) -> Any:
    """Start ``n`` nodes of one cluster (one PostgreSQL database, one Redis)."""
    dsn = migrated(pg_dsn)

    def start(n: int, **config: Any) -> list[RunningServer]:
        return [server_factory(f"node{i}", store=dsn, bus=redis_url, **config) for i in range(n)]

    return start


@pytest.fixture
def browsers() -> Iterator[Any]:
    """Make headless browsers (tests/browser_helpers.py); all are closed at the end."""
    from browser_helpers import Browser

    made: list[Browser] = []

    def make(width: int = 1280, height: int = 800) -> Browser:
        b = Browser(width, height)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An open Store of each backend in turn (for the behaviour both must share)."""
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else ""
    opened = await open_store(request.param, tmp_path, dsn)
    yield opened
    await opened.close()
