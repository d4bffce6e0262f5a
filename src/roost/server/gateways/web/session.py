"""Web sessions: the session token lives in an HttpOnly cookie, never in page scripts.

A login or resume over the WebSocket yields a token like on TCP; the
connection replaces it in the result with a one-time *ticket* (valid for
``TICKET_TTL`` seconds), which the page exchanges at ``POST /session`` for a
cookie holding the token. On its next WebSocket the page sends ``resume`` with
an empty token and the connection uses the cookie's.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec

from roost.protocol.messages import Admitted, LoginResult, Resume, Wire
from roost.server.connection import ClientConnection, tune_socket
from roost.server.outbox import CONTROL

if TYPE_CHECKING:
    from roost.server.app import Server

TICKET_TTL = 60.0
MAX_TICKETS = 10_000  # tickets not yet exchanged; the oldest go first beyond this


class Tickets:
    """One-time tickets for session tokens, kept in memory only."""

    def __init__(self) -> None:
        self._tickets: dict[str, tuple[str, float]] = {}

    def issue(self, token: str) -> str:
        now = time.monotonic()
        if len(self._tickets) >= MAX_TICKETS:
            self._prune(now)
        ticket = "ticket." + secrets.token_urlsafe(24)
        self._tickets[ticket] = (token, now + TICKET_TTL)
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """The token of a valid ticket, which is then used up; None otherwise."""
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def _prune(self, now: float) -> None:
        self._tickets = {k: v for k, v in self._tickets.items() if v[1] >= now}
        while len(self._tickets) >= MAX_TICKETS:
            del self._tickets[next(iter(self._tickets))]


class WebConnection(ClientConnection):
    """A ClientConnection whose session token goes to a cookie instead of to the page."""

    kind = "web"  # the transport label in the metrics (docs/operations.md)

    def __init__(self, server: Server, tickets: Tickets, cookie_token: str | None) -> None:
        super().__init__(server)
        self.tickets = tickets
        self.cookie_token = cookie_token

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # aiohttp accepted this socket, not one of our listeners (see tune_socket).
        tune_socket(transport.get_extra_info("socket"))
        self.kind = "web"  # also over HTTPS: the door, not the encryption, names it

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, Resume) and not msg.token and self.cookie_token:
            msg = Resume(id=msg.id, token=self.cookie_token)
        super()._dispatch(msg)

    def _reply(
        self, request_id: int | None, msg: Any, result: Any, exc: BaseException | None
    ) -> None:
        if exc is None and isinstance(result, LoginResult):
            result = self._hide_token(result)
        super()._reply(request_id, msg, result, exc)

    def send(self, msg: Wire, klass: int = CONTROL) -> None:
        if isinstance(msg, Admitted):
            msg = Admitted(session=self._hide_token(msg.session))
        super().send(msg, klass)

    def _hide_token(self, result: LoginResult) -> LoginResult:
        if not result.token:
            return result  # a newcomer waiting for admission has none
        return msgspec.structs.replace(result, token=self.tickets.issue(result.token))
