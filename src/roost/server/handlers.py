"""The request-type -> handler table, assembled from the feature modules."""

from __future__ import annotations

from typing import Any

from roost.server import (
    accounts,
    activity,
    chat,
    edits,
    files,
    keepalive,
    moderation,
    ops,
    rooms,
    search,
)

HANDLERS: dict[type, Any] = {
    **chat.HANDLERS,
    **moderation.HANDLERS,
    **keepalive.HANDLERS,
    **files.HANDLERS,
    **ops.HANDLERS,
    **accounts.HANDLERS,
    **activity.HANDLERS,
    **edits.HANDLERS,
    **search.HANDLERS,
    **rooms.HANDLERS,
}

CONCURRENT: frozenset[type] = (
    chat.CONCURRENT | files.CONCURRENT | moderation.CONCURRENT | search.CONCURRENT
)
"""Requests whose handlers await but which later requests of the connection need not wait for."""
