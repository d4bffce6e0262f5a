"""Client-side events that do not come from the wire."""

from __future__ import annotations

from dataclasses import dataclass

from roost.protocol.messages import FileInfo


@dataclass(slots=True)
class ConnectionState:
    """The SDK's link to the server changed: connected, reconnecting or closed."""

    state: str  # "connected" | "reconnecting" | "closed"
    detail: str = ""
    type: str = "connection"


@dataclass(slots=True)
class FileSaved:
    """An offered file was downloaded by auto-accept (``path``), or could not be (``error``)."""

    file: FileInfo
    path: str
    error: str = ""
    type: str = "file_saved"
