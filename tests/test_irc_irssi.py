"""End to end: irssi, a real IRC client, in tmux, next to a native SDK client.

irssi logs every channel and query to files (autolog), which the test reads;
it types into irssi through tmux, as a person would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from helpers import logged_in, next_event, unique
from irc_helpers import irc_server
from modhelpers import staff
from roost.client import Message, Presence

pytestmark = pytest.mark.skipif(
    not (shutil.which("irssi") and shutil.which("tmux")),
    reason="irssi and tmux come from scripts/test-deps.d/irc.sh",
)


IRSSI_PASSWORD = "irssi-secret"  # irssi's command line takes no spaces in it


class Irssi:
    """irssi in a tmux server of its own (its own socket), logging to ``logs``."""

    def __init__(self, home: Path, port: int, nick: str) -> None:
        self.home = home
        self.logs = home / "logs"
        self.starts = 0
        self.socket = ""
        self.port = port
        self.nick = nick
        home.mkdir(parents=True, exist_ok=True)
        (home / "config").write_text(
            "settings = {\n"
            f'  core = {{ real_name = "{nick}"; user_name = "{nick}"; nick = "{nick}"; }};\n'
            '  "fe-common/core" = { autolog = "yes"; '
            f'autolog_path = "{self.logs}/$0.log"; autolog_level = "all"; }};\n'
            "};\n"
        )

    def tmux(self, *args: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, *args], check=True, timeout=10)

    def start(self) -> None:
        # irssi registers the account with this password (PASS; registration is open).
        # A fresh tmux server for each start: after /quit the old one may still be
        # exiting, and a client that reaches it gets "server exited unexpectedly".
        self.starts += 1
        self.socket = f"roost-irc-{os.getpid()}-{self.nick}-{self.starts}"
        cmd = f"irssi --home={self.home} -c 127.0.0.1 -p {self.port} -w {IRSSI_PASSWORD} -n {self.nick}"
        self.tmux("new-session", "-d", "-s", "irc", "-x", "200", "-y", "50", cmd)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "irc", "-l", text)
        self.tmux("send-keys", "-t", "irc", "Enter")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait_log(self, name: str, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log(name)
            if text in content:
                return content
            await asyncio.sleep(0.1)
        raise AssertionError(f"{text!r} not in irssi's {name} log: {self.log(name)[-2000:]}")

    def screen(self) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "capture-pane", "-p", "-t", "irc"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], timeout=10, check=False)


async def test_irssi_and_a_native_client_talk_replay_and_a_block_ends_it(
    server_factory, tmp_path: Path
) -> None:
    srv = irc_server(server_factory)
    nick = unique("irssi")
    irssi = Irssi(tmp_path / "irssi", srv.irc_port, nick)
    irssi.start()
    try:
        await irssi.wait_log("#general", "has joined #general")
        async with logged_in(srv) as native:
            # a room, both ways
            await native.send("general", "hello irssi")
            await irssi.wait_log("#general", f"{native.user}> hello irssi")
            irssi.type("/msg #general hello native")
            got = await next_event(native, Message, text="hello native")
            assert got.sender == nick and got.room == "general"
            # a DM, both ways
            await native.send("@" + nick, "a word in private")
            await irssi.wait_log(native.user, "a word in private")
            irssi.type(f"/msg {native.user} private reply")
            got = await next_event(native, Message, text="private reply")
            assert got.sender == nick and got.room.startswith("@")
            # history replays: irssi leaves, misses a message, comes back
            irssi.type("/quit")
            await next_event(native, Presence, user=nick, online=False)
            irssi.stop()
            await native.send("general", "while you were away")
            irssi.start()
            await irssi.wait_log("#general", "while you were away")
            # a block ends the IRC session at once, with the reason
            await next_event(native, Presence, user=nick, online=True)
            boss = await staff(srv, "boss")
            await boss.block(nick, 3600, "flooding")
            await next_event(native, Presence, user=nick, online=False)
            await boss.close()
        deadline = time.monotonic() + 10
        while "blocked" not in irssi.screen() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert "blocked" in irssi.screen()
    finally:
        irssi.stop()
