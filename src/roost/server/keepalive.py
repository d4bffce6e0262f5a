"""Keepalive: ping sessions that have been silent, close those that stay silent.

A dead peer (a laptop that went to sleep, a dropped NAT mapping) leaves a
TCP connection open for hours; pinging it finds out. Any bytes from the peer
count as a sign of life, so a busy client never sees a ping.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.errors import ErrorCode
from roost.protocol.messages import KeepAlive, Pong
from roost.server.outbox import CONTROL

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection


def keepalive(server: Server, now: float) -> None:
    """One round over the sessions (lobby seats included); ``now`` is time.monotonic()."""
    interval, timeout = server.config.ping_interval, server.config.ping_timeout
    if interval <= 0:
        return
    ping: Envelope | None = None
    for conn in list(server.connections):
        # Not logged in: the handshake timeout applies. Paused: we are not reading it.
        if conn.user is None or conn.closing or conn.reading_paused:
            continue
        if conn.ping_sent:
            if conn.last_seen >= conn.ping_sent:
                conn.ping_sent = 0.0
            elif timeout > 0 and now - conn.ping_sent >= timeout:
                conn.close(
                    str(ErrorCode.TIMEOUT), f"no answer to a ping within {timeout:g} seconds"
                )
                continue
            else:
                continue
        if now - conn.last_seen >= interval:
            if ping is None:
                ping = Envelope("", 0, CONTROL, encode(KeepAlive(ts=time.time())))
            conn.ping_sent = now
            conn.push(ping)


def pong(server: Server, conn: ClientConnection, msg: Pong) -> None:
    """The answer to a ping; receiving it already counted as a sign of life."""


HANDLERS: dict[type, Any] = {Pong: pong}
