"""Operator requests over the protocol: reload the configuration, read the metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roost.protocol.messages import Reload, ReloadResult, Stats, StatSample
from roost.server.metrics import samples
from roost.server.moderation import require_staff
from roost.server.reload import reload

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection


def handle_reload(server: Server, conn: ClientConnection, msg: Reload) -> ReloadResult:
    require_staff(conn, "reload the configuration", admin=True)
    return reload(server)


async def handle_stats(server: Server, conn: ClientConnection, msg: Stats) -> list[StatSample]:
    require_staff(conn, "read the server's metrics")
    await server.check_health()
    return samples(server.metrics)


HANDLERS: dict[type, Any] = {Reload: handle_reload, Stats: handle_stats}
