"""Looking up the message an edit, deletion, reaction or reply refers to.

An edit, deletion or reaction is stored as a new message of its conversation
whose ``ref`` is the seq it is about (docs/protocol.md 5.3); the state of a
message (deleted, its reactions) is folded from those events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.base import Store, StoredMessage

# Kinds that end a message: nothing refers to it any more once one is stored.
GONE = frozenset({"delete", "remove"})


@dataclass(slots=True)
class Target:
    """A live text message and the events stored about it so far."""

    message: StoredMessage
    refs: list[StoredMessage]
    reactions: dict[str, set[str]] = field(default_factory=dict)  # emoji -> users


def fold_reactions(refs: list[StoredMessage]) -> dict[str, set[str]]:
    """Who reacts with what now, from the react/unreact events in seq order."""
    out: dict[str, set[str]] = {}
    for r in refs:
        if r.kind == "react":
            out.setdefault(r.text, set()).add(r.sender)
        elif r.kind == "unreact" and r.text in out:
            out[r.text].discard(r.sender)
            if not out[r.text]:
                del out[r.text]
    return out


async def live_message(store: Store, key: str, seq: int) -> Target:
    """The text message ``seq`` of conversation ``key``; a clear error if there is none.

    Refused: a seq not stored (no_such_message), one that is itself an event
    about another message (not_editable), a deleted message (no_such_message).
    """
    if seq <= 0:
        raise RoostError(ErrorCode.BAD_REQUEST, "seq must be a positive message number")
    rec = await store.get_message(key, seq)
    if rec is None:
        raise RoostError(ErrorCode.NO_SUCH_MESSAGE, f"there is no message {seq} in {key}")
    if rec.kind != "text":
        raise RoostError(
            ErrorCode.NOT_EDITABLE,
            f"{seq} in {key} is an event of kind {rec.kind!r} about message {rec.ref},"
            " not a message",
        )
    refs = await store.refs_to(key, seq)
    if any(r.kind in GONE for r in refs):
        raise RoostError(ErrorCode.NO_SUCH_MESSAGE, f"message {seq} in {key} was deleted")
    return Target(rec, refs, fold_reactions(refs))
