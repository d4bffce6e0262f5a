"""Byes that end a session for good, and the exit status a client command gives for each.

The CLI (``roost listen``, ``roost chat``) and the full-screen client share
these, so that a script can tell a block from a kick from a server that is
going down by the exit status alone (docs/moderation.md, "When a session ends").
"""

from __future__ import annotations

from typing import Any

from roost.protocol.display import visible
from roost.protocol.messages import Bye

# Exit statuses of a client command whose session the server ended. 1 stays
# "failed" (no server, bad password) and 2 is click's usage error.
EXIT_STATUS: dict[str, int] = {
    "blocked": 3,
    "kicked": 4,
    "shutting_down": 5,
    "banned": 6,
    "refused": 7,
}


class SessionEnded(Exception):
    """The server ended the session with ``bye`` (a block, a kick, a shutdown)."""

    def __init__(self, bye: Bye) -> None:
        super().__init__(bye.reason)
        self.bye = bye

    @property
    def status(self) -> int:
        return exit_status(self.bye.code)


def ending(ev: Any, outlive_restarts: bool = False) -> Bye | None:
    """``ev`` if it is a bye that ends a client command (not one it reconnects after).

    With ``outlive_restarts`` (the interactive clients) a server shutting down
    is not an ending: the client reconnects once the server is back, as it
    does after a lost connection, and only a moderator's bye ends it.
    """
    if isinstance(ev, Bye) and ev.code in EXIT_STATUS:
        if outlive_restarts and ev.code == "shutting_down":
            return None
        return ev
    return None


def exit_status(code: str) -> int:
    """The exit status for a bye or error code: 3-7 for the endings above, else 1."""
    return EXIT_STATUS.get(code, 1)


def ending_line(bye: Bye) -> str:
    """One line for the terminal: who ended the session, why and until when (the
    server's reason says it: ``you are blocked by bob until 2026-06-01 12:00:00
    UTC: spam``), with the code."""
    return f"roost: {visible(bye.reason) or 'the server ended the session'} ({visible(bye.code)})"
