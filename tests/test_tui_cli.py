"""`roost chat` picks the full-screen client on a terminal and the line client otherwise."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

from conftest import roost_env, run_cli
from helpers import unique

ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9]|[=>NOM78])")


def test_chat_without_a_terminal_falls_back_to_the_line_client(server, tmp_path) -> None:
    name = unique()
    res = run_cli(
        "chat",
        "--user",
        name,
        "--register",
        "--server",
        server.address,
        input="piped hello\n/quit\n",
        ROOST_CONFIG_DIR=str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    assert f"logged in as {name}" in res.stdout
    hist = run_cli("history", "general", "--user", name, "--server", server.address)
    assert "piped hello" in hist.stdout


class Terminal:
    """`roost chat` in a pseudo-terminal of 80x24, read as plain text."""

    def __init__(self, *args: str, **env: str) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "roost", "chat", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=roost_env(TERM="xterm-256color", **env),
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} not shown; saw:\n{self.text()[-2000:]}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break

    def text(self) -> str:
        return ANSI.sub(b"", self.seen).decode(errors="replace")

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self, timeout: float = 15.0) -> int:
        """Wait for the exit status, reading what remains so the child never blocks."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.master, 65536)
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(5)
        # What the child wrote just before it exited is still in the pty: read it
        # (the last words, such as why the session ended, come there).
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break  # EIO: the child's side is closed and nothing is left
            if not chunk:
                break
            self.seen += chunk
        os.close(self.master)
        return code


def test_chat_on_a_terminal_runs_the_full_screen_client(server, tmp_path) -> None:
    name = unique()
    env = {"ROOST_CONFIG_DIR": str(tmp_path)}
    first = Terminal("--server", server.address, "--user", name, "--register", **env)
    try:
        first.wait_for("#general")
        first.wait_for("connected")
        first.send(b"hello from a terminal\r")
        deadline = time.monotonic() + 10
        while (
            "hello from a terminal"
            not in run_cli("history", "general", "--user", name, "--server", server.address).stdout
        ):
            assert time.monotonic() < deadline, "the message never reached the server"
            time.sleep(0.2)
        first.send(b"\x11")  # ctrl+q
    finally:
        assert first.close() == 0, first.text()[-2000:]
    assert f'user = "{name}"' in (tmp_path / "client.toml").read_text()

    # Without a password the login screen asks for it, with the remembered server and user.
    env_without_password = dict(env, ROOST_PASSWORD="")
    second = Terminal(**env_without_password)
    try:
        second.wait_for("log in or create an account")
        second.wait_for(name)
        second.wait_for(server.address)
        second.send(b"\x11")
    finally:
        assert second.close() == 0, second.text()[-2000:]
