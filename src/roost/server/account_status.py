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
