"""Edit, delete, react, unreact: requests about an earlier message (docs/protocol.md 5.3).

Each is stored and published as a new message of the conversation (its own
seq) whose ``kind`` says what it is and whose ``ref`` is the seq it is about,
so history replays them in order and live delivery needs nothing new.
"""

from __future__ import annotations

import time
import unicodedata
from typing import TYPE_CHECKING, Any

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import Delete, Edit, React, Send, SendResult, Unreact
from roost.server import audit
from roost.server.audit import is_staff
from roost.server.chat import check_text, conversation_key, post_and_wait, require_login
from roost.server.message_refs import Target, live_message
from roost.server.moderation import check_reason
from roost.store.base import Account

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

MAX_EMOJI = 32  # characters of one reaction (an emoji sequence, or a short word)


async def _target(
    server: Server, conn: ClientConnection, room: str, seq: int
) -> tuple[Account, str, Target]:
    account = require_login(conn)
    key = conversation_key(server, account.name, room)
    return account, key, await live_message(server.store, key, seq)


def _within_window(server: Server, target: Target) -> bool:
    window = server.config.edit_window
    return window == 0 or time.time() - target.message.ts <= window


def _window_text(server: Server) -> str:
    return f"the edit window ({server.config.edit_window:g} seconds after sending) has passed"


def _checks(server: Server, conn: ClientConnection, room: str, text: str, mute: bool) -> None:
    """The send checks (rate limits; with ``mute``, mutes too) for a request carrying ``text``."""
    probe = Send(id=0, to=room, text=text)
    if not mute:
        server.protection.check_send(server, conn, probe)
        return
    for check in server.send_checks:
        check(server, conn, probe)


async def edit(server: Server, conn: ClientConnection, msg: Edit) -> SendResult:
    account, key, target = await _target(server, conn, msg.room, msg.seq)
    check_text(server, msg.text, "edit")
    if target.message.sender != account.name:
        raise RoostError(ErrorCode.FORBIDDEN, "only its author may edit a message")
    if not _within_window(server, target):
        raise RoostError(ErrorCode.NOT_EDITABLE, _window_text(server))
    _checks(server, conn, key, msg.text, mute=True)
    return await post_and_wait(
        server, key, account.name, msg.text, account.priority, kind="edit", ref=msg.seq
    )


async def delete(server: Server, conn: ClientConnection, msg: Delete) -> SendResult:
    account, key, target = await _target(server, conn, msg.room, msg.seq)
    reason = check_reason(msg.reason)
    author = target.message.sender
    if author == account.name and _within_window(server, target):
        _checks(server, conn, key, "", mute=False)
        return await post_and_wait(
            server, key, account.name, "", account.priority, kind="delete", ref=msg.seq
        )
    if not is_staff(account):
        if author == account.name:
            raise RoostError(ErrorCode.NOT_EDITABLE, _window_text(server))
        raise RoostError(
            ErrorCode.FORBIDDEN, "only its author, a moderator or an admin may delete a message"
        )
    # A moderator's removal: any message, any time, with the reason audited.
    result = await post_and_wait(
        server, key, account.name, reason, account.priority, kind="remove", ref=msg.seq
    )
    await audit.record(
        server, account.name, "remove", author, reason, f"message {msg.seq} in {key}"
    )
    return result


def check_emoji(emoji: str) -> str:
    """A reaction: one short token, no spaces or control characters."""
    emoji = emoji.strip()
    if not emoji:
        raise RoostError(ErrorCode.BAD_REQUEST, "empty reaction")
    if len(emoji) > MAX_EMOJI:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"a reaction may have at most {MAX_EMOJI} characters"
        )
    for ch in emoji:
        # Emoji sequences use joiners and variation selectors (format, Cf); spaces
        # and other controls would let a reaction pose as text.
        cat = unicodedata.category(ch)
        if cat[0] == "Z" or cat in ("Cc", "Cs", "Co", "Cn"):
            raise RoostError(
                ErrorCode.BAD_REQUEST, "a reaction may hold no spaces or control characters"
            )
    return emoji


async def react(server: Server, conn: ClientConnection, msg: React) -> SendResult:
    emoji = check_emoji(msg.emoji)
    account, key, target = await _target(server, conn, msg.room, msg.seq)
    users = target.reactions.get(emoji, set())
    if account.name in users:
        raise RoostError(ErrorCode.BAD_REQUEST, f"you reacted with {emoji} already")
    limit = server.config.max_reactions
    if not users and len(target.reactions) >= limit:
        raise RoostError(
            ErrorCode.TOO_MANY_REACTIONS,
            f"message {msg.seq} has {limit} different reactions, the most allowed;"
            " add to one of them",
        )
    _checks(server, conn, key, emoji, mute=True)
    return await post_and_wait(
        server, key, account.name, emoji, account.priority, kind="react", ref=msg.seq
    )


async def unreact(server: Server, conn: ClientConnection, msg: Unreact) -> SendResult:
    emoji = check_emoji(msg.emoji)
    account, key, target = await _target(server, conn, msg.room, msg.seq)
    if account.name not in target.reactions.get(emoji, set()):
        raise RoostError(ErrorCode.BAD_REQUEST, f"you have not reacted with {emoji}")
    _checks(server, conn, key, emoji, mute=False)
    return await post_and_wait(
        server, key, account.name, emoji, account.priority, kind="unreact", ref=msg.seq
    )


HANDLERS: dict[type, Any] = {Edit: edit, Delete: delete, React: react, Unreact: unreact}
