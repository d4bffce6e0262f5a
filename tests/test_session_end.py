"""A session the server ends (block, kick, shutdown) is told why, with a distinct exit status.

Real server, real `roost` commands in subprocesses (the full-screen client in
a pseudo-terminal), staff acting through `roost admin`.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from conftest import roost_env, run_cli
from helpers import logged_in, pause_reading, resume_reading, unique
from modhelpers import add_account, staff
from roost.cli.common import run_async
from roost.client.connection import ConnectionLost
from test_tui_cli import Terminal

BLOCKED, KICKED, SHUTTING_DOWN = 3, 4, 5


class Command:
    """A long-running `roost ...` whose output is read as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "roost", *args],
            stdin=subprocess.PIPE,  # kept open: the command must not wait for input to exit
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=roost_env(),
        )
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = b""

    def read(self, timeout: float) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if ready:
            self.out += self.proc.stdout.read() or b""

    def wait(self, timeout: float = 15.0) -> tuple[int, str, str]:
        """Exit status, stdout and stderr (the command must end by itself)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"still running; printed {self.out!r}") from None
        self.out += out
        return self.proc.returncode, self.out.decode(), err.decode()


def wait_listening(srv: Any, cmd: Command, user: str, room: str = "general") -> None:
    """Post into ``room`` until ``cmd`` prints it: then it is surely subscribed."""
    deadline = time.monotonic() + 20
    n = 0
    while time.monotonic() < deadline:
        n += 1
        text = f"are you there {n}"
        res = run_cli("send", room, text, "--user", user, "--register", "--server", srv.address)
        assert res.returncode == 0, res.stderr
        for _ in range(10):
            cmd.read(0.1)
            if text.encode() in cmd.out:
                return
        assert cmd.proc.poll() is None, cmd.wait()
    raise AssertionError(f"the command never printed a message: {cmd.out!r}")


def admin(srv: Any, *args: str) -> None:
    res = run_cli("admin", *args, "--user", "boss", "--server", srv.address)
    assert res.returncode == 0, res.stderr


def test_listen_of_a_blocked_user_says_who_why_until_when(server: Any) -> None:
    add_account(server, "boss", "admin")
    m = unique("listener")
    assert run_cli("send", "general", "hi", "--user", m, "--register", "--server", server.address)
    cmd = Command("listen", "general", "--user", m, "--server", server.address)
    wait_listening(server, cmd, unique("poster"))
    admin(server, "block", m, "--for", "1h", "--reason", "spam links")
    status, _, err = cmd.wait()
    assert status == BLOCKED, err
    [line] = err.strip().splitlines()
    assert "blocked by boss until 2" in line and "UTC" in line, line
    assert "spam links" in line and "(blocked)" in line
    # Logging in again is refused with the same status.
    again = run_cli("listen", "general", "--user", m, "--server", server.address, "-t", "5")
    assert again.returncode == BLOCKED, again.stderr
    assert "blocked by boss" in again.stderr


def test_listen_json_prints_the_bye_as_an_event_when_kicked(server: Any) -> None:
    add_account(server, "boss", "admin")
    m = unique("listener")
    run_cli("send", "general", "hi", "--user", m, "--register", "--server", server.address)
    cmd = Command("listen", "general", "--json", "--user", m, "--server", server.address)
    wait_listening(server, cmd, unique("poster"))
    admin(server, "kick", m, "--reason", "take a break")
    status, out, err = cmd.wait()
    assert status == KICKED, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["type"] == "bye" and last["code"] == "kicked"
    assert last["reason"] == "you were kicked by boss: take a break"
    assert "kicked by boss: take a break (kicked)" in err


def test_listen_exits_when_the_server_shuts_down(server: Any) -> None:
    m = unique("listener")
    cmd = Command("listen", "general", "--user", m, "--register", "--server", server.address)
    wait_listening(server, cmd, unique("poster"))
    server.stop()
    status, _, err = cmd.wait()
    assert status == SHUTTING_DOWN, err
    assert "shutting down" in err and "(shutting_down)" in err


def test_line_chat_of_a_blocked_user_ends_with_the_reason(server: Any) -> None:
    add_account(server, "boss", "admin")
    m = unique("chatter")
    cmd = Command("chat", "--plain", "--user", m, "--register", "--server", server.address)
    wait_listening(server, cmd, unique("poster"))
    admin(server, "block", m, "--reason", "rude")
    status, out, err = cmd.wait()
    assert status == BLOCKED, (out, err)
    assert "blocked by boss until lifted: rude (blocked)" in err
    assert "blocked by boss" not in out  # said once, on stderr


def test_a_request_in_flight_when_the_session_is_blocked_exits_as_blocked(
    server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # A command's request that a block cuts off (the line chat's start-up
    # reads, a send) fails with the block, so the command exits as blocked,
    # not as a lost connection (status 1).
    boss_name = unique("boss")
    lost: list[ConnectionLost] = []

    @run_async
    async def command() -> None:
        boss = await staff(server, boss_name)
        try:
            async with logged_in(server) as client:
                pause_reading(client)  # the bye is on its way, unread
                assert client.user is not None
                await boss.block(client.user, reason="rude")
                # Sent after the server stopped reading: it is never answered.
                pending = asyncio.ensure_future(client.rooms())
                await asyncio.sleep(0.2)
                resume_reading(client)
                try:
                    await asyncio.wait_for(pending, 10)
                except ConnectionLost as exc:
                    lost.append(exc)
                    raise
        finally:
            await boss.close()

    with pytest.raises(SystemExit) as ended:
        command()
    assert ended.value.code == BLOCKED
    assert lost and lost[0].bye is not None and lost[0].bye.code == "blocked"
    err = capsys.readouterr().err
    assert f"blocked by {boss_name} until lifted: rude (blocked)" in err, err


def test_full_screen_chat_of_a_kicked_user_ends_with_the_reason(server: Any, tmp_path) -> None:
    add_account(server, "boss", "admin")
    m = unique("viewer")
    term = Terminal(
        "--server", server.address, "--user", m, "--register", ROOST_CONFIG_DIR=str(tmp_path)
    )
    try:
        term.wait_for("#general")
        term.wait_for("connected")
        admin(server, "kick", m, "--reason", "cool off")
    finally:
        status = term.close()  # waits for it to exit by itself (killed after 15 s)
    assert status == KICKED, term.text()[-2000:]
    assert "you were kicked by boss: cool off (kicked)" in term.text()


def test_line_chat_outlives_a_server_restart(server: Any) -> None:
    # Interactive clients reconnect after a shutdown (only `listen` exits 5).
    m = unique("stayer")
    cmd = Command("chat", "--plain", "--user", m, "--register", "--server", server.address)
    poster = unique("poster")
    wait_listening(server, cmd, poster)
    server.restart()
    wait_listening(server, cmd, poster)
    assert cmd.proc.poll() is None
    assert b"server shutting down" in cmd.out  # it said what happened
    assert cmd.proc.stdin is not None
    cmd.proc.stdin.write(b"/quit\n")
    cmd.proc.stdin.flush()
    status, _, err = cmd.wait()
    assert status == 0, err
