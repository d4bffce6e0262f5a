"""The async client SDK.

async with connect("127.0.0.1", 7878, "bot", "secret", register=True) as client:
    await client.send("general", "hello")
    async for event in client.events():
        ...
"""

from roost.client.connection import Client, ConnectionLost, connect
from roost.client.events import ConnectionState, FileSaved
from roost.client.files import TransferCancelled
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    Admitted,
    AuditEntry,
    Bye,
    FileDetails,
    FileInfo,
    FileResult,
    Gap,
    Joined,
    Left,
    Message,
    Moderation,
    ModResult,
    Notice,
    PendingUser,
    Presence,
    ReloadResult,
    SanctionInfo,
    SearchResult,
    SessionInfo,
    StatSample,
    UserInfo,
)

__all__ = [
    "Admitted",
    "AuditEntry",
    "Bye",
    "Client",
    "ConnectionLost",
    "ConnectionState",
    "ErrorCode",
    "FileDetails",
    "FileInfo",
    "FileResult",
    "FileSaved",
    "Gap",
    "Joined",
    "Left",
    "Message",
    "ModResult",
    "Moderation",
    "Notice",
    "PendingUser",
    "Presence",
    "ReloadResult",
    "RoostError",
    "SanctionInfo",
    "SearchResult",
    "SessionInfo",
    "StatSample",
    "TransferCancelled",
    "UserInfo",
    "connect",
]
