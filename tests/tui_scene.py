"""A small, fixed chat scene for snapshot tests and the README screenshot.

Everything that would change between runs is pinned: user names, message order,
read markers (so the unread counts are known), who is online, and the clock
(pass :func:`fixed_time` as the app's time format).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import PASSWORD, roost_env, run_cli
from roost.client import Client

VIEWER = "alice"
SERVER_LABEL = "chat.example.org:7878"


def fixed_time(ts: float) -> str:
    """The app's time format in snapshots: every message at the same minute."""
    return "09:41"


# (room, sender, text, priority) in the order they are sent.
MESSAGES: list[tuple[str, str, str, int]] = [
    ("general", "bob", "morning all! coffee machine is fixed", 2),
    ("general", "carol", "finally. the release is on for 14:00", 2),
    ("general", "alice", "great, I'll tag it after lunch", 2),
    ("general", "bob", "changelog draft:\n- faster history\n- a new full-screen chat client", 2),
    ("general", "carol", "the database restart window starts in 5 minutes, please pause jobs", 0),
    ("general", "alice", "ack, pausing the importer now", 1),
    ("general", "bob", "lunch menu is on the wiki", 3),
    ("dev", "bob", "PR 412 needs a second review", 2),
    ("dev", "carol", "looking at it", 2),
    ("dev", "bob", "thanks!", 2),
    ("ops", "carol", "disk 91% on db-2", 0),
    ("@bob", "bob", "got a minute after standup?", 2),
]
# What alice had already read, per conversation: the rest counts as unread.
READ = {"general": 7, "dev": 1, "ops": 0}


async def _populate(server: Any) -> None:
    names = ("alice", "bob", "carol", "dave")
    clients = {name: Client(server.host, server.port, name, PASSWORD) for name in names}
    try:
        for client in clients.values():
            await client.start()
        for room in ("general", "dev", "ops"):
            for name, client in clients.items():
                if name != "dave" or room == "general":
                    await client.follow(room)
        for room, sender, text, priority in MESSAGES:
            to = "@alice" if room == "@bob" else room
            await clients[sender].send(to, text, priority)
    finally:
        for client in clients.values():
            await client.close()


def build_scene(server: Any, config_dir: Path) -> list[subprocess.Popen[str]]:
    """Accounts, rooms and messages; returns `roost listen` processes keeping bob and carol
    online (the caller stops them)."""
    for name, extra in (
        ("alice", ["--admin", "--priority", "high"]),
        ("bob", []),
        ("carol", ["--moderator", "--priority", "urgent"]),
        ("dave", []),
    ):
        made = run_cli("user", "add", name, *extra, "--data-dir", str(server.data_dir))
        assert made.returncode == 0, made.stderr
    asyncio.run(_populate(server))
    marks = dict(READ)
    marks["@alice+bob"] = 0
    config_dir.mkdir(parents=True, exist_ok=True)
    state = {"read": {f"{VIEWER}@{server.address}": marks}}
    (config_dir / "state.json").write_text(json.dumps(state))
    listeners = []
    for name in ("bob", "carol"):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "roost",
                "listen",
                "general",
                "--timeout",
                "120",
                "--user",
                name,
                "--server",
                server.address,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=roost_env(),
        )
        listeners.append(proc)
    return listeners


def stop(processes: list[subprocess.Popen[str]]) -> None:
    for proc in processes:
        proc.terminate()
        proc.wait(10)
