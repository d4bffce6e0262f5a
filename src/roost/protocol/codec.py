"""Messages to frames and back, sans-I/O."""

from __future__ import annotations

import contextlib
from typing import Any, Generic, TypeVar

import msgspec

from roost.protocol.errors import ErrorCode, ProtocolError
from roost.protocol.frames import DEFAULT_MAX_FRAME, HEADER_SIZE, FrameDecoder
from roost.protocol.messages import ClientMessage, ServerMessage

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()


def encode(msg: msgspec.Struct) -> bytes:
    """One message as a complete frame (header + MessagePack payload)."""
    buf = bytearray(HEADER_SIZE)
    _encoder.encode_into(msg, buf, HEADER_SIZE)
    buf[:HEADER_SIZE] = (len(buf) - HEADER_SIZE).to_bytes(HEADER_SIZE, "big")
    return bytes(buf)


_BIN8_EMPTY = b"\xc4\x00"


def frame_with_room(msg: msgspec.Struct, size: int) -> tuple[bytearray, int]:
    """A frame of ``msg`` whose last field, a binary left empty in ``msg``, holds ``size`` bytes.

    Returns the frame and the offset where those bytes go: the caller reads
    file data straight into it (one copy instead of three). The last field
    of ``msg`` must be an empty bytes-like value.
    """
    head = _encoder.encode(msg)
    if not head.endswith(_BIN8_EMPTY):
        raise ValueError("the last field of the message must be empty binary data")
    head = head[: -len(_BIN8_EMPTY)]
    if size < 0x100:
        binhead = b"\xc4" + size.to_bytes(1, "big")
    elif size < 0x10000:
        binhead = b"\xc5" + size.to_bytes(2, "big")
    else:
        binhead = b"\xc6" + size.to_bytes(4, "big")
    start = HEADER_SIZE + len(head) + len(binhead)
    frame = bytearray(start + size)
    frame[:HEADER_SIZE] = (len(frame) - HEADER_SIZE).to_bytes(HEADER_SIZE, "big")
    frame[HEADER_SIZE:start] = head + binhead
    return frame, start


def to_builtins(obj: Any) -> Any:
    """Plain dicts/lists for a struct (for JSON output and Ok results)."""
    return msgspec.to_builtins(obj)


_decoders: dict[Any, Any] = {}


def _shared_decoder(kind: Any) -> Any:
    """One msgspec decoder per message type, shared by every stream (they keep no state)."""
    dec = _decoders.get(kind)
    if dec is None:
        dec = _decoders[kind] = msgspec.msgpack.Decoder(kind)
    return dec


class StreamDecoder(FrameDecoder, Generic[T]):
    """Bytes in, typed messages out. Any malformed input raises ProtocolError.

    A FrameDecoder itself rather than holding one: one object less for each
    of the server's thousands of idle sessions.
    """

    __slots__ = ("_decoder",)

    def __init__(self, kind: Any, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self._decoder: msgspec.msgpack.Decoder[T] = _shared_decoder(kind)

    def feed(self, data: bytes | bytearray | memoryview) -> list[T | BadFrame]:
        """Messages completed by ``data``, in order.

        A frame that is whole but cannot be decoded comes out as a
        :class:`BadFrame` in its place (the stream stays usable). A broken
        stream (oversized frame) raises ProtocolError, whose ``before`` holds
        the messages that came whole ahead of the break.
        """
        try:
            payloads = self.split(data)
        except ProtocolError as exc:
            exc.before = self._decode_all(exc.before)
            raise
        return self._decode_all(payloads)

    def _decode_all(self, payloads: list[bytes]) -> list[T | BadFrame]:
        out: list[T | BadFrame] = []
        decode = self._decoder.decode
        for payload in payloads:
            try:
                out.append(decode(payload))
            except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
                out.append(BadFrame.from_payload(payload, exc))
        return out


class BadFrame:
    """A whole frame whose payload is not a valid message."""

    __slots__ = ("error", "request_id")

    def __init__(self, error: ProtocolError, request_id: int | None) -> None:
        self.error = error
        self.request_id = request_id

    @classmethod
    def from_payload(cls, payload: bytes, exc: Exception) -> BadFrame:
        if isinstance(exc, msgspec.ValidationError):
            err = ProtocolError(f"invalid message: {exc}", ErrorCode.BAD_REQUEST)
        else:
            err = ProtocolError(f"malformed frame: {exc}")
        # Answer with the request id when one can be read, so the client can
        # match the error to its request.
        request_id = None
        with contextlib.suppress(msgspec.DecodeError, UnicodeDecodeError, ValueError):
            # Unknown fields are skipped unread, so a bad string elsewhere does not matter.
            request_id = _id_decoder.decode(payload).id
        return cls(err, request_id)


class _RequestId(msgspec.Struct):
    id: int | None = None


_id_decoder = msgspec.msgpack.Decoder(_RequestId)


def server_decoder(max_frame: int = DEFAULT_MAX_FRAME) -> StreamDecoder[ClientMessage]:
    """Decoder the server uses for what clients send."""
    return StreamDecoder(ClientMessage, max_frame)


def client_decoder(max_frame: int = DEFAULT_MAX_FRAME) -> StreamDecoder[ServerMessage]:
    """Decoder a client uses for what the server sends."""
    return StreamDecoder(ServerMessage, max_frame)
