"""Account statuses beyond ``active`` and ``pending``, and the login check on them."""

from __future__ import annotations

from roost.protocol.errors import ErrorCode, RoostError

DISABLED = "disabled"  # cannot log in until an admin enables it again
DELETED = "deleted"  # kept (no password) so that the name is not reused


def check_open(status: str) -> None:
    """Login and resume check: a disabled account cannot log in; a deleted one does not exist."""
    if status == DISABLED:
        raise RoostError(ErrorCode.DISABLED, "this account is disabled; ask an admin")
    if status == DELETED:
        raise RoostError(ErrorCode.AUTH_FAILED, "unknown user or wrong password")


def closed_text(status: str, reason: str = "") -> str:
    """What the sessions of a disabled or deleted account are told as they end."""
    text = "your account is disabled" if status == DISABLED else "your account was deleted"
    return text + (f": {reason}" if reason else "")
