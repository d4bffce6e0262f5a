"""Edits, deletions, replies and reactions in the SDK (docs/protocol.md 5.3).

The requests, a table of ``:shortcode:`` emoji, and :class:`MessageBook`,
which folds the events about a message (kind edit, delete, remove, react,
unreact) into what a client shows of it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from roost.protocol.messages import Delete, Edit, Message, React, SendResult, Unreact

T = TypeVar("T")

# A handful of common shortcodes; anything else is sent as typed.
SHORTCODES: dict[str, str] = {
    ":+1:": "\U0001f44d",
    ":thumbsup:": "\U0001f44d",
    ":-1:": "\U0001f44e",
    ":thumbsdown:": "\U0001f44e",
    ":heart:": "\u2764\ufe0f",
    ":smile:": "\U0001f604",
    ":joy:": "\U0001f602",
    ":laughing:": "\U0001f606",
    ":tada:": "\U0001f389",
    ":eyes:": "\U0001f440",
    ":fire:": "\U0001f525",
    ":rocket:": "\U0001f680",
    ":thinking:": "\U0001f914",
    ":pray:": "\U0001f64f",
    ":100:": "\U0001f4af",
    ":check:": "\u2705",
    ":white_check_mark:": "\u2705",
    ":x:": "\u274c",
    ":wave:": "\U0001f44b",
}


def emoji_of(text: str) -> str:
    """A reaction as typed: ``:shortcode:`` of a common emoji becomes the emoji."""
    text = text.strip()
    return SHORTCODES.get(text.lower(), text)


class EditsMixin:
    """Edit, delete and reaction requests, on top of the client's ``_call``."""

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...

    async def edit(self, room: str, seq: int, text: str) -> SendResult:
        """Replace the text of one's own message ``seq`` (within the server's edit window)."""
        result: SendResult = await self._call(Edit(id=0, room=room, seq=seq, text=text), SendResult)
        return result

    async def delete(self, room: str, seq: int, reason: str = "") -> SendResult:
        """Delete one's own message, or (moderators) remove anyone's, with ``reason``."""
        result: SendResult = await self._call(
            Delete(id=0, room=room, seq=seq, reason=reason), SendResult
        )
        return result

    async def react(self, room: str, seq: int, emoji: str) -> SendResult:
        """React to message ``seq``; ``:shortcode:`` of a common emoji is converted."""
        result: SendResult = await self._call(
            React(id=0, room=room, seq=seq, emoji=emoji_of(emoji)), SendResult
        )
        return result

    async def unreact(self, room: str, seq: int, emoji: str) -> SendResult:
        """Take back one's reaction ``emoji`` (``:shortcode:`` converted) from ``seq``."""
        result: SendResult = await self._call(
            Unreact(id=0, room=room, seq=seq, emoji=emoji_of(emoji)), SendResult
        )
        return result


@dataclass(slots=True)
class Shown:
    """A text message as a client shows it, with the events about it applied."""

    message: Message
    text: str
    edited: bool = False
    removed: str = ""  # "" | "author" (deleted by its author) | "moderator"
    reason: str = ""  # a moderator's reason for removing it
    reactions: dict[str, set[str]] = field(default_factory=dict)  # emoji -> users

    def counts(self) -> list[tuple[str, int]]:
        """(emoji, how many) of the reactions, in the order they first came."""
        return [(e, len(users)) for e, users in self.reactions.items() if users]

    def label(self) -> str:
        """The text with its state: "(edited)", "removed by a moderator" ..."""
        if self.removed == "moderator":
            why = f": {self.reason}" if self.reason else ""
            return f"(removed by a moderator{why})"
        if self.removed:
            return "(deleted)"
        return f"{self.text} (edited)" if self.edited else self.text

    def reactions_text(self) -> str:
        """E.g. "👍 2  🎉 1"; empty without reactions."""
        return "  ".join(f"{e} {n}" for e, n in self.counts())


class MessageBook:
    """The latest ``keep`` text messages of every conversation, events folded in.

    Messages may come in any order (scroll-back loads older pages after newer
    ones): an event about a message not seen yet waits for it, and the events
    about one message are applied in seq order.
    """

    def __init__(self, keep: int = 5000) -> None:
        self.keep = keep
        self._by_key: OrderedDict[tuple[str, int], Shown] = OrderedDict()
        self._waiting: OrderedDict[tuple[str, int], list[Message]] = OrderedDict()
        self._seen: set[tuple[str, int]] = set()  # events applied, so a repeat is ignored

    def add(self, m: Message) -> Shown | None:
        """Take one message; the Shown it made or changed (None: its message is not known)."""
        if m.kind == "text":
            known = self._by_key.get((m.room, m.seq))
            if known is not None:
                # Seen again (a history page over live messages): keep what was applied.
                return known
            new = Shown(m, m.text)
            self._by_key[(m.room, m.seq)] = new
            while len(self._by_key) > self.keep:
                self._by_key.popitem(last=False)
            for ev in sorted(self._waiting.pop((m.room, m.seq), []), key=lambda e: e.seq):
                self._apply(new, ev)
            return new
        shown = self._by_key.get((m.room, m.ref))
        if shown is None:
            self._waiting.setdefault((m.room, m.ref), []).append(m)
            while len(self._waiting) > self.keep:
                self._waiting.popitem(last=False)
            return None
        self._apply(shown, m)
        return shown

    def _apply(self, shown: Shown, m: Message) -> None:
        if (m.room, m.seq) in self._seen:
            return
        self._seen.add((m.room, m.seq))
        if m.kind == "edit":
            shown.text, shown.edited = m.text, True
        elif m.kind == "delete":
            shown.removed = "author"
        elif m.kind == "remove":
            shown.removed, shown.reason = "moderator", m.text
        elif m.kind == "react":
            shown.reactions.setdefault(m.text, set()).add(m.sender)
        elif m.kind == "unreact" and m.text in shown.reactions:
            shown.reactions[m.text].discard(m.sender)
            if not shown.reactions[m.text]:
                del shown.reactions[m.text]

    def rename(self, old: str, new: str) -> None:
        """Room ``old`` is ``new`` now (same seqs): its messages are found under ``new``."""

        def moved(key: tuple[str, int]) -> tuple[str, int]:
            return (new, key[1]) if key[0] == old else key

        def renamed(m: Message) -> Message:
            return msgspec.structs.replace(m, room=new) if m.room == old else m

        by_key: OrderedDict[tuple[str, int], Shown] = OrderedDict()
        for key, shown in self._by_key.items():
            shown.message = renamed(shown.message)
            by_key[moved(key)] = shown
        self._by_key = by_key
        self._waiting = OrderedDict(
            (moved(k), [renamed(m) for m in v]) for k, v in self._waiting.items()
        )
        self._seen = {moved(k) for k in self._seen}

    def get(self, room: str, seq: int) -> Shown | None:
        return self._by_key.get((room, seq))

    def recent(self, room: str, sender: str | None = None) -> list[Shown]:
        """The messages of ``room`` not deleted (only ``sender``'s, if given), by seq."""
        out = [
            s
            for (key, _), s in self._by_key.items()
            if key == room and not s.removed and (sender is None or s.message.sender == sender)
        ]
        return sorted(out, key=lambda s: s.message.seq)

    def resolve(self, room: str, token: str, sender: str | None = None) -> int:
        """The seq a user means: a number, or ``last``/``-1`` (the latest), ``-2``...

        Relative forms count the messages of ``room`` this book holds (only
        ``sender``'s, if given: one edits one's own). Raises ValueError.
        """
        token = token.strip().lstrip("#")
        back = 1 if token in ("last", "^") else -int(token) if token.startswith("-") else 0
        if not back:
            seq = int(token)
            if seq <= 0:
                raise ValueError("a message number is 1 or more")
            return seq
        mine = self.recent(room, sender)
        if back > len(mine):
            raise ValueError("not that many messages here")
        return mine[-back].message.seq

    def quote(self, room: str, seq: int, width: int = 40) -> str:
        """A short quote of message ``seq`` for a reply: "↪ ann: the first words…"."""
        shown = self.get(room, seq)
        if shown is None:
            return f"\u21aa #{seq}"
        text = " ".join((shown.label() if shown.removed else shown.text).split())
        if len(text) > width:
            text = text[: width - 1] + "\u2026"
        return f"\u21aa {shown.message.sender}: {text}"


def describe_event(m: Message, book: MessageBook | None = None) -> str:
    """One line for an event about a message, for clients that print events as they come."""
    what = f"#{m.ref}"
    if m.kind == "edit":
        return f"{m.sender} edited {what}: {m.text} (edited)"
    if m.kind == "delete":
        return f"{m.sender} deleted {what}"
    if m.kind == "remove":
        why = f": {m.text}" if m.text else ""
        return f"{what} removed by a moderator ({m.sender}){why}"
    shown = book.get(m.room, m.ref) if book is not None else None
    counts = f" [{shown.reactions_text()}]" if shown is not None and shown.reactions else ""
    if m.kind == "react":
        return f"{m.sender} reacted {m.text} to {what}{counts}"
    if m.kind == "unreact":
        return f"{m.sender} took back {m.text} from {what}{counts}"
    return f"{m.sender}: {m.kind} {what}"
