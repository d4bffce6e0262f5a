"""The Roost wire protocol, free of I/O: frames, messages, error codes."""

from roost.protocol.codec import BadFrame, StreamDecoder, client_decoder, encode, server_decoder
from roost.protocol.errors import ErrorCode, ProtocolError, RoostError
from roost.protocol.frames import DEFAULT_MAX_FRAME, FrameDecoder

__all__ = [
    "DEFAULT_MAX_FRAME",
    "BadFrame",
    "ErrorCode",
    "FrameDecoder",
    "ProtocolError",
    "RoostError",
    "StreamDecoder",
    "client_decoder",
    "encode",
    "server_decoder",
]
