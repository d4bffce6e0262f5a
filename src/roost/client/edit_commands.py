"""/edit, /delete, /react, /unreact, /reply as people type them, for every chat client.

Each takes the conversation on screen, the :class:`MessageBook` of what the
client holds of it, and the words after the command; it returns the lines to
show. SEQ is a message number or ``last``/``-1`` (the latest), ``-2``...:
for /edit and /delete one's own latest messages, for the others anyone's.
The line client and the full-screen client both use these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roost.client.edits import MessageBook, emoji_of
from roost.protocol.errors import ErrorCode, RoostError

if TYPE_CHECKING:
    from roost.client.connection import Client

Lines = list[str]
Run = Callable[["Client", MessageBook, str, list[str]], Awaitable[Lines]]


@dataclass(frozen=True)
class EditCommand:
    name: str
    usage: str
    least: int  # words needed
    help: str
    run: Run


def _seq(book: MessageBook, room: str, token: str, sender: str | None) -> int:
    try:
        return book.resolve(room, token, sender)
    except ValueError as exc:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"{token!r} names no message: {exc} (give its number, or last, -1, -2...)",
        ) from None


def _rest(words: list[str]) -> str:
    return " ".join(words[1:]).strip()


async def _edit(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    seq = _seq(book, room, w[0], c.user)
    await c.edit(room, seq, _rest(w))
    return [f"edited #{seq}"]


async def _delete(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    # A moderator names others' messages by number; "last" means one's own latest.
    seq = _seq(book, room, w[0], c.user)
    await c.delete(room, seq, _rest(w))
    return [f"deleted #{seq}"]


async def _react(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    seq = _seq(book, room, w[0], None)
    await c.react(room, seq, emoji_of(w[1]))
    return []  # the reaction shows on the message itself


async def _unreact(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    seq = _seq(book, room, w[0], None)
    await c.unreact(room, seq, emoji_of(w[1]))
    return []


async def _reply(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    seq = _seq(book, room, w[0], None)
    await c.send(room, _rest(w), reply_to=seq)
    return []


EDIT_COMMANDS = (
    EditCommand("edit", "/edit SEQ TEXT", 2, "replace the text of your message SEQ", _edit),
    EditCommand(
        "delete",
        "/delete SEQ [REASON]",
        1,
        "delete your message SEQ (moderators: anyone's, with a reason)",
        _delete,
    ),
    EditCommand(
        "react", "/react SEQ EMOJI", 2, "react to SEQ (:+1:, :heart:, :tada:, ...)", _react
    ),
    EditCommand("unreact", "/unreact SEQ EMOJI", 2, "take back your reaction", _unreact),
    EditCommand("reply", "/reply SEQ TEXT", 2, "answer message SEQ, quoting it", _reply),
)
