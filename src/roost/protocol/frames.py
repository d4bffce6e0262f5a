"""Length-prefixed framing, sans-I/O.

A frame is a 4-byte big-endian unsigned payload length followed by the payload.
The decoder refuses a frame whose header announces more than ``max_frame``
bytes before any of its payload is buffered, so a peer can never make us hold
more than ``max_frame + HEADER_SIZE`` bytes of one frame.
"""

from __future__ import annotations

import struct

from roost.protocol.errors import ErrorCode, ProtocolError

HEADER_SIZE = 4
_read_header = struct.Struct(">I").unpack_from
DEFAULT_MAX_FRAME = 256 * 1024
# No frame may announce more than this even if both sides agree; keeps the
# header check meaningful and prevents 4 GiB allocations.
ABSOLUTE_MAX_FRAME = 16 * 1024 * 1024


def frame_header(length: int) -> bytes:
    """Header for a payload of ``length`` bytes."""
    return length.to_bytes(HEADER_SIZE, "big")


def encode_frame(payload: bytes) -> bytes:
    """Wrap one payload in a frame."""
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


class FrameDecoder:
    """Turns an arbitrary split of a byte stream into whole frame payloads."""

    __slots__ = ("_buf", "_need", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        # The incomplete frame's bytes (header or payload) left by the last
        # call; None while there are none (an idle connection holds no buffer).
        self._buf: bytearray | None = None
        # Payload length of the frame being assembled, or -1 while reading a header.
        self._need = -1

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole frame."""
        return 0 if self._buf is None else len(self._buf)

    def split(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return every payload completed by them, in order.

        Raises ProtocolError (code frame_too_large) as soon as a header
        announces an oversized frame; its ``before`` holds the payloads that
        came whole ahead of that header. Each byte of ``bytes`` input is
        copied once into the payload that holds it (twice when a frame spans
        two calls); other buffers are copied into ``bytes`` first.
        """
        if type(data) is not bytes:
            data = bytes(data)
        out: list[bytes] = []
        pos = 0
        buf = self._buf
        if buf is not None:
            # Finish the header or payload left incomplete by the previous call.
            view = memoryview(data)
            if self._need < 0:
                pos = HEADER_SIZE - len(buf)
                buf += view[:pos]
                if len(buf) < HEADER_SIZE:
                    return out
                need = int.from_bytes(buf, "big")
                self._check(need)
                self._need = need
                buf.clear()
            take = self._need - len(buf)
            buf += view[pos : pos + take]
            pos += take
            if len(buf) < self._need:
                return out
            out.append(bytes(buf))
            self._buf = None
            self._need = -1
        if pos < len(data):
            self._feed_fresh(data, pos, out)
        return out

    def _feed_fresh(self, data: bytes, pos: int, out: list[bytes]) -> None:
        """Append to ``out`` the frames of ``data`` from ``pos``; keep what is left."""
        append = out.append
        end = len(data)
        limit = self.max_frame
        # The loop a client runs once per received frame (a million a second
        # at full fan-out): struct reads the header in place, and a slice of
        # the bytes is the payload (one copy, no memoryview object).
        while end - pos >= HEADER_SIZE:
            (need,) = _read_header(data, pos)
            if need > limit:
                try:
                    self._check(need)
                except ProtocolError as exc:
                    exc.before = out
                    raise
            start = pos + HEADER_SIZE
            stop = start + need
            if stop > end:
                break
            append(data[start:stop])
            pos = stop
        if pos < end:
            if end - pos >= HEADER_SIZE:
                (self._need,) = _read_header(data, pos)
                self._buf = bytearray(memoryview(data)[pos + HEADER_SIZE :])
            else:
                self._buf = bytearray(memoryview(data)[pos:])

    def _check(self, need: int) -> None:
        if need > self.max_frame:
            raise ProtocolError(
                f"frame of {need} bytes exceeds the limit of {self.max_frame} bytes",
                ErrorCode.FRAME_TOO_LARGE,
            )
