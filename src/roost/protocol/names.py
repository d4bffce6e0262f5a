"""Names of users, rooms and direct conversations."""

from __future__ import annotations

import re

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import PRIORITY_NAMES

_NAME = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,31}")


def check_user(name: str) -> str:
    """A valid user name (lower-case letters, digits, ``_ . -``; up to 32), normalised."""
    norm = name.strip().lower()
    if not _NAME.fullmatch(norm):
        raise RoostError(
            ErrorCode.INVALID_NAME,
            f"invalid user name {name!r}: use 1-32 of a-z 0-9 _ . - (not starting with . or -)",
        )
    return norm


def check_priority(value: str | int) -> int:
    """A priority level by name (urgent, high, normal, low) or number (0-3)."""
    text = str(value).strip().lower()
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES[text]
    if text.isdigit() and 0 <= int(text) <= 3:
        return int(text)
    raise RoostError(ErrorCode.BAD_REQUEST, f"{value!r}: use urgent, high, normal, low or 0-3")


def check_room(name: str) -> str:
    """A valid room name, without a leading ``#``, normalised."""
    norm = name.strip().lower().removeprefix("#")
    if not _NAME.fullmatch(norm):
        raise RoostError(
            ErrorCode.INVALID_NAME,
            f"invalid room name {name!r}: use 1-32 of a-z 0-9 _ . - (not starting with . or -)",
        )
    return norm


def note_rename(renames: dict[str, str], old: str, new: str) -> None:
    """Record in ``renames`` (old name -> name now) that room ``old`` is ``new``,
    moving the earlier names of ``old`` along (chains stay one step)."""
    for earlier, now in renames.items():
        if now == old:
            renames[earlier] = new
    renames[old] = new


def dm_key(a: str, b: str) -> str:
    """The conversation key of a direct conversation: ``@`` + the two names sorted."""
    x, y = sorted((a, b))
    return f"@{x}+{y}"


def dm_parties(key: str) -> tuple[str, str] | None:
    """The two users of a direct conversation key, or None for a room."""
    if not key.startswith("@") or "+" not in key:
        return None
    a, _, b = key[1:].partition("+")
    return a, b


def dm_peer(key: str, me: str) -> str:
    """The other party of a direct conversation, as shown to ``me``."""
    parties = dm_parties(key)
    if parties is None:
        return key
    a, b = parties
    return b if a == me else a
