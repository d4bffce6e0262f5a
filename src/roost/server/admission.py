"""The admission lobby: newcomers who wait for a moderator (``registration = "approve"``).

A waiting connection stays open and idle; it is in no room and gets no
events except notices, and every request but ``logout`` is answered with
the error ``pending``. Admitting it (roost.server.moderation) turns it into a
normal session on the same connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import LoginResult, Notice
from roost.server.audit import record
from roost.store.base import Account

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

PENDING = "pending"


class Lobby:
    """Connections of accounts that wait for admission, by account name."""

    def __init__(self) -> None:
        self.waiting: dict[str, set[ClientConnection]] = {}

    def add(self, conn: ClientConnection, name: str) -> None:
        self.waiting.setdefault(name, set()).add(conn)

    def discard(self, conn: ClientConnection) -> None:
        if conn.user is None:
            return
        conns = self.waiting.get(conn.user)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.waiting[conn.user]

    def of(self, name: str) -> set[ClientConnection]:
        return set(self.waiting.get(name, ()))

    def address_of(self, name: str) -> str:
        for conn in self.waiting.get(name, ()):
            return conn.address
        return ""


async def enter_lobby(
    server: Server, conn: ClientConnection, account: Account, registered: bool
) -> LoginResult:
    """Park a connection of a pending account in the lobby and tell the moderators."""
    if conn.closing:
        raise RoostError(ErrorCode.INTERNAL, "connection closed during login")
    conn.user = account.name
    conn.pending = True
    server.lobby.add(conn, account.name)
    conn.send(
        Notice(text="your account waits for a moderator to admit it; stay connected to be let in")
    )
    where = f"from {conn.address or 'an unknown address'}"
    await record(
        server, account.name, PENDING, account.name, detail=where if registered else "back " + where
    )
    return LoginResult(
        user=account.name,
        role=account.role,
        priority=account.priority,
        token="",
        rooms=[],
        status=PENDING,
    )
