"""Stable, machine-readable error codes shared by server, client and CLI."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Codes carried in error frames; never renamed once published (see docs/protocol.md)."""

    PROTOCOL = "protocol"  # malformed frame or message
    FRAME_TOO_LARGE = "frame_too_large"
    VERSION = "version"  # unsupported protocol version
    BAD_REQUEST = "bad_request"  # well-formed frame, invalid fields
    BAD_QUERY = "bad_query"  # a search that cannot be read (unclosed quote, no word, bad cursor)
    NOT_LOGGED_IN = "not_logged_in"
    ALREADY_LOGGED_IN = "already_logged_in"
    AUTH_FAILED = "auth_failed"  # wrong password or unknown account
    REGISTRATION_CLOSED = "registration_closed"
    NAME_TAKEN = "name_taken"
    INVALID_NAME = "invalid_name"
    NO_SUCH_ROOM = "no_such_room"
    NO_SUCH_USER = "no_such_user"
    NO_SUCH_FILE = "no_such_file"
    NOT_A_MEMBER = "not_a_member"
    NOT_INVITED = "not_invited"  # the room is private and the user holds no invitation
    NO_SUCH_MESSAGE = "no_such_message"  # no message of that seq (or it was deleted)
    NOT_EDITABLE = "not_editable"  # the seq is an edit/reaction event, or the edit window passed
    TOO_MANY_REACTIONS = "too_many_reactions"
    FORBIDDEN = "forbidden"  # role does not allow the action
    BLOCKED = "blocked"  # the account is blocked (the message says by whom, why, until when)
    BANNED = "banned"  # the client's address is banned
    MUTED = "muted"
    PENDING = "pending"  # waiting in the admission queue
    DISABLED = "disabled"  # the account is disabled by an admin until enabled again
    LOGGED_OUT = "logged_out"  # the session ended by "log out everywhere" or a password reset
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"  # file over the size limit
    QUOTA_EXCEEDED = "quota_exceeded"
    TOO_MANY_TRANSFERS = "too_many_transfers"
    INTEGRITY = "integrity"  # checksum mismatch
    STORAGE = "storage"  # disk full or store failure
    UNAVAILABLE = "unavailable"  # the shared database is unreachable (cluster mode): retry later
    CANCELLED = "cancelled"  # a transfer stopped at the client's request
    SHUTTING_DOWN = "shutting_down"
    TIMEOUT = "timeout"
    TLS = "tls"  # TLS handshake failed (client side)
    CERT_CHANGED = "cert_changed"  # the server's certificate differs from the pinned one
    INTERNAL = "internal"


class RoostError(Exception):
    """An error with a stable code; the text is a human sentence."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class ProtocolError(RoostError):
    """The byte stream cannot be decoded; the connection must be closed.

    ``before`` holds what the same input completed ahead of the broken part,
    whole and in order (payloads from a frame splitter, messages from a
    stream decoder), so that a reader can act on them before it closes.
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.PROTOCOL) -> None:
        super().__init__(code, message)
        self.before: list[Any] = []
