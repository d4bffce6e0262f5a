"""Client-side events that do not come from the wire."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ConnectionState:
    """The SDK's link to the server changed: connected, reconnecting or closed."""

    state: str  # "connected" | "reconnecting" | "closed"
    detail: str = ""
    type: str = "connection"
