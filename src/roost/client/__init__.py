"""The async client SDK.

async with connect("127.0.0.1", 7878, "bot", "secret", register=True) as client:
    await client.send("general", "hello")
    async for event in client.events():
        ...
"""

from roost.client.connection import Client, ConnectionLost, connect
from roost.client.events import ConnectionState, FileSaved
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    Bye,
    FileDetails,
    FileInfo,
    FileResult,
    Gap,
    Joined,
    Left,
    Message,
    Notice,
    Presence,
)

__all__ = [
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
    "Notice",
    "Presence",
    "RoostError",
    "connect",
]
