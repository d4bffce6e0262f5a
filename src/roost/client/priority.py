"""Telling a sender that a message went out at a lower priority than asked."""

from __future__ import annotations

from roost.protocol.messages import PRIORITY_LABELS, SendResult


def lowered_note(asked: int | None, result: SendResult) -> str | None:
    """The sentence for a send whose level the server lowered, else None.

    The server sends at most the account's own level (docs/priority.md) and
    says in the result which level it used.
    """
    used = result.priority
    if asked is None or used is None or used <= asked:
        return None
    want, got = PRIORITY_LABELS.get(asked, str(asked)), PRIORITY_LABELS.get(used, str(used))
    return (
        f"sent as {got}, not {want}: your account's level is {got}"
        " (an administrator can raise it with `roost admin priority`)"
    )
