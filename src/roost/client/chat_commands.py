"""Moderation slash commands as people type them, for every chat client.

``/block NAME [DURATION] [REASON]`` and the rest: each takes the words after
the command and returns the lines to show. The line client and the
full-screen client both use these, so the two behave alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roost.client.moderation import audit_text, pending_text, result_text, sanction_text
from roost.protocol.durations import split_duration
from roost.protocol.names import check_priority

if TYPE_CHECKING:
    from roost.client.connection import Client

Lines = list[str]


@dataclass(frozen=True)
class ChatCommand:
    name: str
    usage: str  # "/block NAME [DURATION] [REASON]"
    least: int  # words needed
    help: str
    run: Callable[[Client, list[str]], Awaitable[Lines]]


async def _block(c: Client, w: list[str]) -> Lines:
    duration, reason = split_duration(w[1:])
    return [result_text(await c.block(w[0], duration, reason))]


async def _unblock(c: Client, w: list[str]) -> Lines:
    return [result_text(await c.unblock(w[0]))]


async def _kick(c: Client, w: list[str]) -> Lines:
    return [result_text(await c.kick(w[0], " ".join(w[1:])))]


async def _mute(c: Client, w: list[str]) -> Lines:
    duration, reason = split_duration(w[1:])
    return [result_text(await c.mute(w[0], duration, reason))]


async def _unmute(c: Client, w: list[str]) -> Lines:
    return [result_text(await c.unmute(w[0]))]


async def _priority(c: Client, w: list[str]) -> Lines:
    return [result_text(await c.set_priority(w[0], check_priority(w[1])))]


async def _blocks(c: Client, w: list[str]) -> Lines:
    return [sanction_text(s) for s in await c.blocks()] or ["no blocks, mutes or bans"]


async def _pending(c: Client, w: list[str]) -> Lines:
    return [pending_text(p) for p in await c.pending()] or ["nobody waits for admission"]


async def _admit(c: Client, w: list[str]) -> Lines:
    level = check_priority(w[1]) if len(w) > 1 else None
    return [result_text(await c.admit(w[0], level))]


async def _refuse(c: Client, w: list[str]) -> Lines:
    return [result_text(await c.refuse(w[0], " ".join(w[1:])))]


async def _ban(c: Client, w: list[str]) -> Lines:
    duration, reason = split_duration(w[1:])
    return [result_text(await c.ban_address(w[0], duration, reason))]


async def _unban(c: Client, w: list[str]) -> Lines:
    return [result_text(await c.unban_address(w[0]))]


async def _audit(c: Client, w: list[str]) -> Lines:
    count = int(w[0]) if w and w[0].isdigit() else 20
    return [audit_text(e) for e in await c.audit(count)]


MODERATION_COMMANDS = (
    ChatCommand(
        "block",
        "/block NAME [DURATION] [REASON]",
        1,
        "block NAME, for DURATION (e.g. 2h) if given; it ends their sessions",
        _block,
    ),
    ChatCommand("unblock", "/unblock NAME", 1, "lift the block of NAME", _unblock),
    ChatCommand("kick", "/kick NAME [REASON]", 1, "end every session of NAME", _kick),
    ChatCommand(
        "mute",
        "/mute NAME [DURATION] [REASON]",
        1,
        "stop NAME sending, for DURATION if given",
        _mute,
    ),
    ChatCommand("unmute", "/unmute NAME", 1, "let NAME send again", _unmute),
    ChatCommand(
        "priority",
        "/priority NAME LEVEL",
        2,
        "set NAME's priority: urgent, high, normal, low (admins)",
        _priority,
    ),
    ChatCommand("blocks", "/blocks", 0, "list blocks, mutes and bans in force", _blocks),
    ChatCommand("pending", "/pending", 0, "list newcomers waiting for admission", _pending),
    ChatCommand("admit", "/admit NAME [LEVEL]", 1, "admit a waiting newcomer", _admit),
    ChatCommand("refuse", "/refuse NAME [REASON]", 1, "refuse a waiting newcomer", _refuse),
    ChatCommand(
        "ban",
        "/ban ADDRESS [DURATION] [REASON]",
        1,
        "ban an address or CIDR network",
        _ban,
    ),
    ChatCommand("unban", "/unban ADDRESS", 1, "lift an address ban", _unban),
    ChatCommand("audit", "/audit [N]", 0, "the last N moderation actions", _audit),
)
