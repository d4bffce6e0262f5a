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
    Invited,
    Joined,
    Left,
    Message,
    Moderation,
    ModResult,
    Notice,
    PendingUser,
    Presence,
    ReloadResult,
    RoomChanged,
    RoomDeleted,
    RoomInfo,
    RoomRenamed,
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
    "Invited",
    "Joined",
    "Left",
    "Message",
    "ModResult",
    "Moderation",
    "Notice",
    "PendingUser",
    "Presence",
    "ReloadResult",
    "RoomChanged",
    "RoomDeleted",
    "RoomInfo",
    "RoomRenamed",
    "RoostError",
    "SanctionInfo",
    "SearchResult",
    "SessionInfo",
    "StatSample",
    "TransferCancelled",
    "UserInfo",
    "connect",
]
