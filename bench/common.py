"""What every benchmark shares: servers it starts and stops, clients, results.

Everything runs on loopback. Every process a benchmark starts is stopped by
its PID in a ``finally``; nothing is looked up or killed by name. Load loops
are bounded both in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from roost.protocol.codec import client_decoder, encode  # noqa: E402
from roost.protocol.messages import (  # noqa: E402
    PROTOCOL_VERSION,
    ClientHello,
    Error,
    Join,
    Login,
    Ok,
    Resume,
    ServerHello,
)

PASSWORD = "bench password"
HOST = "127.0.0.1"
TEXT_SIZE = 100

# Markers counted at C speed (bytes.count) instead of parsing every frame.
# A Roost chat message is a msgpack map whose first key/value is "t": "msg".
ROOST_MSG = b"\xa1t\xa3msg"
ROOST_OK = b"\xa1t\xa2ok"
ROOST_ERR = b"\xa1t\xa5error"
ROOST_GAP = b"\xa1t\xa3gap"
IRC_MSG = b" PRIVMSG #"


# --- processes -----------------------------------------------------------------


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by the children we start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def load_average() -> float:
    return os.getloadavg()[0]


# Roost's automatic protection is lifted for the load, as ngircd's flood
# penalties are: all bench clients come from 127.0.0.1 and send far faster
# than a person (0 turns each limit off; docs/moderation.md).
BENCH_CONFIG: dict[str, Any] = {
    "max_connections_per_address": 0,
    "msg_rate": 0,
    "bytes_rate": 0,
    "account_msg_rate": 0,
    "account_bytes_rate": 0,
    "web_port": 0,  # a free port: several bench servers may run at once
}


@dataclass
class ManagedProcess:
    """A server process this bench started: launched with a log file, stopped by its PID."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _launch(self, argv: list[str], log_name: str, env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
        log.close()

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


@dataclass
class RoostServer(ManagedProcess):
    """`python -m roost serve` on a free loopback port, in a data folder of its own."""

    config: dict[str, Any] = field(default_factory=dict)
    web_port: int = 0  # the web client's (WebSocket) port, once started

    def start(self) -> RoostServer:
        data = self.workdir / "roost-data"
        cfg = self.workdir / "roost.toml"
        config = {**BENCH_CONFIG, **self.config}
        cfg.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in config.items()))
        port_file = self.workdir / "roost.port"
        port_file.unlink(missing_ok=True)
        web_port_file = self.workdir / "roost.webport"
        env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        args = [sys.executable, "-m", "roost", "serve", "--host", HOST, "--port", str(self.port)]
        args += ["--data-dir", str(data), "--config", str(cfg), "--port-file", str(port_file)]
        args += ["--web-port-file", str(web_port_file)]
        self._launch(args, "roost.log", env)
        assert self.proc is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                if web_port_file.exists():
                    self.web_port = int(web_port_file.read_text())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError((self.workdir / "roost.log").read_text()[-2000:])
            time.sleep(0.02)
        raise RuntimeError("roost server did not start")


def toml_value(value: Any) -> str:
    """A value as written in a TOML config file (the bench servers' configs)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


# --- peers (ngircd, mosquitto) -------------------------------------------------

NGIRCD_OPER = ("bench", "benchpass")


def ensure_peers() -> None:
    """Install ngircd and mosquitto from Debian packages when missing."""
    missing = [p for p in ("ngircd", "mosquitto") if _peer_binary(p) is None]
    if not missing:
        return
    print(f"installing {' '.join(missing)} (apt-get)", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *missing],
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
    )


def _peer_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )


def peer_version(name: str) -> str:
    binary = _peer_binary(name)
    if binary is None:
        return "missing"
    flag = "--version" if name in ("ngircd", "inspircd") else "-h"
    out = subprocess.run([binary, flag], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else "?"


@dataclass
class Ngircd(ManagedProcess):
    """ngircd in the foreground with a config written here; flood penalties lifted.

    ``MaxPenaltyTime = 0`` turns the per-command penalty off (ngircd >= 25), and
    senders become operators (``OPER``) and set user mode ``+F`` (relaxed flood
    protection: five times the commands per read, ngircd >= 22).
    """

    def start(self) -> Ngircd:
        binary = _peer_binary("ngircd")
        assert binary, "ngircd is not installed (run with --peers)"
        self.port = free_port()
        motd = self.workdir / "ngircd.motd"
        motd.write_text("bench\n")
        conf = self.workdir / "ngircd.conf"
        conf.write_text(
            f"""[Global]
Name = bench.example.net
Info = roost bench peer
Listen = {HOST}
Ports = {self.port}
MotdFile = {motd}
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 16
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
OperCanUseMode = yes
[Operator]
Name = {NGIRCD_OPER[0]}
Password = {NGIRCD_OPER[1]}
"""
        )
        self._launch([binary, "--nodaemon", "--config", str(conf)], "ngircd.log")
        assert self.proc is not None
        wait_port(self.port, self.proc)
        return self


@dataclass
class Inspircd(ManagedProcess):
    """InspIRCd 3 in the foreground with a config written here; connection and flood limits lifted.

    ``threshold``/``commandrate`` very high and ``fakelag="no"`` switch off the
    flood penalties (0 is no "off": a threshold of 0 ends a sender that pipelines
    with "Excess Flood"), ``localmax``/``globalmax``/``limit`` the per-IP and total caps
    (every bench client comes from 127.0.0.1).
    """

    def start(self) -> Inspircd:
        binary = _peer_binary("inspircd")
        assert binary, "inspircd is not installed (apt-get install inspircd)"
        self.port = free_port()
        d = self.workdir
        (d / "motd.txt").write_text("bench\n")
        conf = d / "inspircd.conf"
        conf.write_text(
            f"""<server name="bench.example.net" description="bench" network="bench">
<admin name="b" nick="b" email="b@example.net">
<bind address="{HOST}" port="{self.port}" type="clients">
<connect name="main" allow="*" maxchans="100" timeout="60" pingfreq="600"
  hardsendq="1048576" softsendq="65536" recvq="65536" threshold="1000000" commandrate="1000000000"
  fakelag="no" localmax="200000" globalmax="200000" maxconnwarn="off" useident="no"
  limit="200000" resolvehostnames="no">
<files motd="{d / "motd.txt"}">
<pid file="{d / "inspircd.pid"}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d / "ircd.log"}">
<performance somaxconn="1024" clonesonconnect="no" softlimit="200000" nouserdns="yes">
<dns timeout="1">
<security runasuser="" runasgroup="">
<limits maxnick="30" maxchan="64">
"""
        )
        argv = [binary, "--nofork", f"--config={conf}"]
        if os.geteuid() == 0:
            argv.append("--runasroot")
        self._launch(argv, "inspircd.log")
        assert self.proc is not None
        wait_port(self.port, self.proc)
        return self


@dataclass
class Mosquitto(ManagedProcess):
    def start(self) -> Mosquitto:
        binary = _peer_binary("mosquitto")
        assert binary, "mosquitto is not installed (run with --peers)"
        self.port = free_port()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {HOST}\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nmax_connections -1\n"
        )
        self._launch([binary, "-c", str(conf)], "mosquitto.log")
        assert self.proc is not None
        wait_port(self.port, self.proc)
        return self


# --- worker processes --------------------------------------------------------------


class Workers:
    """Forked worker processes, each running ``target(pipe, *args)`` on its own loop."""

    def __init__(self) -> None:
        self.procs: list[mp.process.BaseProcess] = []
        self.pipes: list[Connection] = []
        self._ctx = mp.get_context("fork")

    def start(self, target: Callable[..., Awaitable[None]], *args: Any) -> Connection:
        ours, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_entry, args=(target, theirs, *args), daemon=True)
        proc.start()
        theirs.close()
        self.procs.append(proc)
        self.pipes.append(ours)
        return ours

    def gather(self, pipes: list[Connection] | None = None, timeout: float = 60.0) -> list[Any]:
        """One reply from each pipe (a worker's exception is re-raised here)."""
        out = []
        for pipe in pipes or self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a bench worker did not answer")
            reply = pipe.recv()
            if isinstance(reply, dict) and "error" in reply:
                raise RuntimeError(f"bench worker failed: {reply['error']}")
            out.append(reply)
        return out

    def send(self, msg: Any, pipes: list[Connection] | None = None) -> None:
        for pipe in pipes or self.pipes:
            pipe.send(msg)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.join()


def _worker_entry(target: Callable[..., Awaitable[None]], pipe: Connection, *args: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(target(pipe, *args))
    except Exception as exc:
        import traceback

        with contextlib.suppress(OSError):
            pipe.send({"error": f"{exc!r}\n{traceback.format_exc()}"})


async def recv_pipe(pipe: Connection) -> Any:
    """Await the next message from the coordinator without blocking the loop."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def ready() -> None:
        loop.remove_reader(pipe.fileno())
        # The loop made the pipe non-blocking; a large reply must not be cut short.
        os.set_blocking(pipe.fileno(), True)
        if not fut.done():
            fut.set_result(pipe.recv())

    loop.add_reader(pipe.fileno(), ready)
    return await fut


# --- counting clients --------------------------------------------------------------


class Counter(asyncio.Protocol):
    """Counts occurrences of a marker in the received stream; nothing else.

    ``bytes.count`` runs in C, so a receiver costs a few microseconds per read
    (tens of messages), not per message. A marker split across two reads is
    found by looking at the seam.
    """

    def __init__(self, marker: bytes, stamps: bool = False, lazy: bool = False) -> None:
        self.marker = marker
        # lazy: read only when resumed (every few ms) so a receiver that is not
        # measuring latency costs one read per interval, not one per message.
        self.lazy = lazy
        self.count = 0
        self.bytes = 0
        self.tail = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.other: dict[bytes, int] = {}
        # Latency samples: (receive time ns, send stamps found in this read).
        self.stamps = stamps
        self.samples: list[int] = []

    def watch(self, marker: bytes) -> None:
        self.other[marker] = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        tail = self.tail
        n = len(self.marker) - 1
        self.count += data.count(self.marker) + (tail[-n:] + data[:n]).count(self.marker)
        for m, seen in self.other.items():
            k = len(m) - 1
            self.other[m] = seen + data.count(m) + (tail[-k:] + data[:k]).count(m)
        if self.stamps:
            _collect_stamps(tail + data, len(tail), time.monotonic_ns(), self.samples)
        self.tail = data[-32:] if len(data) >= 32 else (tail + data)[-32:]
        self.bytes += len(data)
        if self.lazy and self.transport is not None:
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


STAMP_PREFIX = b"@T:"
STAMP_LEN = 19


def stamped_text(now_ns: int) -> str:
    """A TEXT_SIZE-character message text that carries its send time."""
    head = f"@T:{now_ns:0{STAMP_LEN}d}"
    return head + "x" * (TEXT_SIZE - len(head))


def _collect_stamps(buf: bytes, seam: int, now: int, out: list[int]) -> None:
    """Latencies of the stamps in ``buf`` that end after ``seam``.

    ``buf`` is the previous read's tail followed by this read; a stamp that
    ended inside the tail was counted with the previous read, and one that
    is not complete yet will be counted with the next.
    """
    end = len(buf)
    pos = buf.find(STAMP_PREFIX)
    while pos >= 0:
        stop = pos + len(STAMP_PREFIX) + STAMP_LEN
        if stop > end:
            break
        digits = buf[pos + len(STAMP_PREFIX) : stop]
        # Binary frames can hold the prefix bytes by chance; a stamp is all digits.
        if not digits.isdigit():
            pos = buf.find(STAMP_PREFIX, pos + 1)
            continue
        if stop > seam:
            out.append(now - int(digits))
        pos = buf.find(STAMP_PREFIX, stop)


def resume_lazy(counters: list[Counter], interval: float = 0.02) -> asyncio.Task[None]:
    """Let lazy counters read once every ``interval`` seconds, until cancelled."""

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            for c in counters:
                if c.lazy and not c.closed and c.transport is not None:
                    c.transport.resume_reading()

    return asyncio.ensure_future(run())


def counter_totals(counters: list[Counter]) -> int:
    return sum(c.count for c in counters)


def sample_timeline(
    counters: list[Counter], timeline: list[tuple[int, int]], interval: float = 0.05
) -> asyncio.Task[None]:
    """Record (monotonic ns, total count) every ``interval`` seconds until cancelled."""

    async def run() -> None:
        while True:
            timeline.append((time.monotonic_ns(), counter_totals(counters)))
            await asyncio.sleep(interval)

    return asyncio.ensure_future(run())


def rate_between(timelines: list[list[tuple[int, int]]], t0: int, t1: int) -> float:
    """Sum over processes of (count at t1 - count at t0) / (t1 - t0), per second."""
    total = 0.0
    for tl in timelines:
        total += _at(tl, t1) - _at(tl, t0)
    return total / ((t1 - t0) / 1e9)


def _at(tl: list[tuple[int, int]], t: int) -> float:
    """Count at time t, interpolated between samples."""
    prev = tl[0]
    if t <= prev[0]:
        return float(prev[1])
    for cur in tl[1:]:
        if cur[0] >= t:
            span = cur[0] - prev[0]
            frac = (t - prev[0]) / span if span else 1.0
            return prev[1] + frac * (cur[1] - prev[1])
        prev = cur
    return float(tl[-1][1])


# --- Roost and IRC handshakes -----------------------------------------------------


class RoostSetupError(RuntimeError):
    pass


async def roost_session(
    port: int,
    user: str,
    *,
    password: str = PASSWORD,
    token: str | None = None,
    register: bool = True,
    join: list[str] | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
    """Connect, hello, log in (password or session token) and join rooms."""
    reader, writer = await asyncio.open_connection(HOST, port)
    decoder = client_decoder()
    pending: list[Any] = []

    async def recv() -> Any:
        while not pending:
            data = await reader.read(65536)
            if not data:
                raise RoostSetupError("server closed the connection during setup")
            pending.extend(decoder.feed(data))
        return pending.pop(0)

    async def reply(request_id: int) -> Any:
        while True:
            msg = await recv()
            if isinstance(msg, Ok) and msg.id == request_id:
                return msg.result
            if isinstance(msg, Error) and msg.id == request_id:
                raise RoostSetupError(f"{msg.code}: {msg.message}")

    hello = await recv()
    assert isinstance(hello, ServerHello)
    login: Any = (
        Resume(id=1, token=token)
        if token
        else Login(id=1, user=user, password=password, register=register)
    )
    writer.write(encode(ClientHello(version=PROTOCOL_VERSION, client="bench")) + encode(login))
    result = await reply(1)
    for i, room in enumerate(join or ()):
        writer.write(encode(Join(id=2 + i, room=room)))
        await reply(2 + i)
    return reader, writer, result


def adopt(writer: asyncio.StreamWriter, proto: asyncio.Protocol) -> asyncio.Transport:
    """Hand an established connection to a plain Protocol (counting from now on)."""
    transport = writer.transport
    # A StreamWriter closes its transport when collected: keep it alive with the protocol.
    proto._writer = writer  # type: ignore[attr-defined]
    transport.set_protocol(proto)
    proto.connection_made(transport)
    return transport  # type: ignore[return-value]


async def irc_session(
    port: int, nick: str, channels: list[str], oper: bool = False
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Register a nick, optionally OPER + MODE +F, and join channels."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :bench\r\n".encode())
    await _irc_until(reader, b" 001 ")
    if oper:
        writer.write(f"OPER {NGIRCD_OPER[0]} {NGIRCD_OPER[1]}\r\n".encode())
        await _irc_until(reader, b" 381 ")
        writer.write(f"MODE {nick} +F\r\n".encode())
        await _irc_until(reader, b"+F")
    for ch in channels:
        writer.write(f"JOIN {ch}\r\n".encode())
        await _irc_until(reader, b" 366 ")
    return reader, writer


async def gateway_session(
    port: int, nick: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Register an account through Roost's IRC gateway (PASS); it is in #general from then on."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"PASS :{PASSWORD}\r\nNICK {nick}\r\nUSER {nick} 0 * :bench\r\n".encode())
    await _irc_until(reader, b" 001 ")
    await _irc_until(reader, b" 366 ")  # the auto-join of #general, with its names
    return reader, writer


async def _irc_until(reader: asyncio.StreamReader, token: bytes) -> bytes:
    while True:
        line = await asyncio.wait_for(reader.readline(), 30)
        if not line:
            raise RuntimeError("IRC server closed the connection during setup")
        if line.startswith(b"PING"):
            continue
        if token in line:
            return line
        if b" 4" in line[:20] and line.split(b" ")[1].startswith(b"4"):
            raise RuntimeError(f"IRC error during setup: {line!r}")


# --- results and command line ---------------------------------------------------------


def base_args(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also measure the peer servers (installs ngircd and mosquitto when missing)",
    )
    parser.add_argument("--json-out", type=Path, help="write the results here as JSON")
    return parser


def add_roost_config(parser: argparse.ArgumentParser) -> None:
    """--roost-config KEY=VALUE, for the benchmarks that start a Roost server of their own."""
    parser.add_argument(
        "--roost-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Roost server setting for this run, VALUE in JSON (e.g. pace_readers=false)",
    )


def roost_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The --roost-config settings as a dict."""
    out: dict[str, Any] = {}
    for item in args.roost_config:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--roost-config wants KEY=VALUE, not {item!r}")
        out[key] = json.loads(value)
    return out


def emit(results: dict[str, Any], path: Path | None) -> None:
    results["load_before"] = results.get("load_before", load_average())
    text = json.dumps(results, indent=2, sort_keys=True)
    print(text)
    if path is not None:
        path.write_text(text + "\n")


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"roost-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return float(ordered[k])
