"""The client's small remembered state: last server and user, and read markers.

Files live in ``$ROOST_CONFIG_DIR`` when set (tests), else
``$XDG_CONFIG_HOME/roost`` or ``~/.config/roost``. Passwords are never stored.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "client.toml"
STATE_FILE = "state.json"
# Read markers kept per account, and conversations per account: the state file stays small.
MAX_ACCOUNTS = 20
MAX_CONVERSATIONS = 500


def config_dir() -> Path:
    """Where the client keeps its files (not created until something is saved)."""
    explicit = os.environ.get("ROOST_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "roost"


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


NOTIFY_MODES = ("off", "bell", "osc9", "both")


@dataclass
class ClientConfig:
    """``client.toml``: the server and user of the last successful login, and preferences.

    ``notify``: how mentions, direct and urgent messages are signalled
    (``off``, ``bell``: the terminal bell, ``osc9``: a desktop notification
    through the OSC 9 escape that terminals such as iTerm2, kitty, WezTerm and
    foot show, ``both``). ``idle_away``: seconds without a key press after
    which the full-screen client marks the user away (0: never).
    """

    server: str | None = None
    user: str | None = None
    path: Path = field(default_factory=lambda: config_dir() / CONFIG_FILE)
    notify: str = "bell"
    idle_away: float = 600.0

    @classmethod
    def load(cls, directory: Path | None = None) -> ClientConfig:
        """Read the file; a missing or unreadable file gives an empty config."""
        path = (directory or config_dir()) / CONFIG_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
        server, user = data.get("server"), data.get("user")
        notify, idle = data.get("notify"), data.get("idle_away")
        return cls(
            server=server if isinstance(server, str) else None,
            user=user if isinstance(user, str) else None,
            path=path,
            notify=notify if notify in NOTIFY_MODES else "bell",
            idle_away=float(idle) if isinstance(idle, int | float) and idle >= 0 else 600.0,
        )

    def save(self) -> None:
        """Write the file atomically (a crash never leaves half a file)."""
        lines = ["# written by `roost chat`: the last server and user (never a password)"]
        if self.server:
            lines.append(f"server = {_toml_string(self.server)}")
        if self.user:
            lines.append(f"user = {_toml_string(self.user)}")
        # Preferences the user wrote by hand survive the rewrite.
        if self.notify != "bell":
            lines.append(f"notify = {_toml_string(self.notify)}")
        if self.idle_away != 600.0:
            lines.append(f"idle_away = {self.idle_away:g}")
        _write_atomic(self.path, "\n".join(lines) + "\n")


@dataclass
class ReadMarkers:
    """The highest seq the user has seen, per conversation, per account and server."""

    path: Path
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path | None = None) -> ReadMarkers:
        path = (directory or config_dir()) / STATE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8")).get("read", {})
        except (OSError, ValueError, AttributeError):
            raw = {}
        accounts: dict[str, dict[str, int]] = {}
        if isinstance(raw, dict):
            for account, marks in raw.items():
                if isinstance(marks, dict):
                    accounts[str(account)] = {
                        str(k): int(v) for k, v in marks.items() if isinstance(v, int)
                    }
        return cls(path, accounts)

    def get(self, account: str) -> dict[str, int]:
        return dict(self.accounts.get(account, {}))

    def put(self, account: str, marks: dict[str, int]) -> None:
        """Remember an account's markers (most recent account last; old ones age out)."""
        self.accounts.pop(account, None)
        newest = sorted(marks.items(), key=lambda kv: kv[1])[-MAX_CONVERSATIONS:]
        self.accounts[account] = dict(newest)
        while len(self.accounts) > MAX_ACCOUNTS:
            self.accounts.pop(next(iter(self.accounts)))

    def save(self) -> None:
        _write_atomic(self.path, json.dumps({"read": self.accounts}, indent=1) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
