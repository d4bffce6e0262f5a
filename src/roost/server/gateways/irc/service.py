"""Roost's admin commands as IRC users type them: ``/msg RoostServ block mallory 2h spam``.

The same words work as raw lines (``/QUOTE BLOCK mallory 2h spam``). Each
becomes the moderation request a native client sends, so the server checks
the role and records the action as for any other client.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from roost.client.search import hit_text, parse_search_line
from roost.protocol.durations import format_until, split_duration
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    Admit,
    Audit,
    AuditEntry,
    BanAddress,
    Block,
    Kick,
    ListBlocks,
    ListPending,
    ModResult,
    Mute,
    PendingUser,
    Refuse,
    SanctionInfo,
    Search,
    SearchResult,
    SetPriority,
    SetRole,
    UnbanAddress,
    Unblock,
    Unmute,
    Wire,
)
from roost.protocol.names import check_priority

# verb: (request type, usage, words needed)
_VERBS: dict[str, tuple[type[Wire], str, int]] = {
    "block": (Block, "block NAME [DURATION] [REASON]", 1),
    "unblock": (Unblock, "unblock NAME", 1),
    "kick": (Kick, "kick NAME [REASON]", 1),
    "mute": (Mute, "mute NAME [DURATION] [REASON]", 1),
    "unmute": (Unmute, "unmute NAME", 1),
    "ban": (BanAddress, "ban ADDRESS[/BITS] [DURATION] [REASON]", 1),
    "unban": (UnbanAddress, "unban ADDRESS[/BITS]", 1),
    "priority": (SetPriority, "priority NAME urgent|high|normal|low", 2),
    "role": (SetRole, "role NAME admin|moderator|member", 2),
    "blocks": (ListBlocks, "blocks", 0),
    "pending": (ListPending, "pending", 0),
    "admit": (Admit, "admit NAME [PRIORITY]", 1),
    "refuse": (Refuse, "refuse NAME [REASON]", 1),
    "audit": (Audit, "audit [NAME]", 0),
    "search": (Search, "search WORDS [from:USER] [in:#ROOM|@USER] [since:DATE] [until:DATE]", 1),
}
# Raw IRC commands that are Roost admin verbs (KICK is IRC's own, handled apart).
COMMANDS = {v.upper() for v in _VERBS if v != "kick"}
HELP = "commands: " + "; ".join(usage for _, usage, _ in _VERBS.values())


def parse(verb: str, words: list[str]) -> tuple[type[Wire], dict[str, Any]] | None:
    """The request for ``verb WORDS...``; None for help or an unknown verb."""
    spec = _VERBS.get(verb)
    if spec is None:
        return None
    msg_type, usage, least = spec
    if len(words) < least:
        raise RoostError(ErrorCode.BAD_REQUEST, f"usage: {usage}")
    rest = words[1:]
    if verb in ("block", "mute"):
        duration, reason = split_duration(rest)
        return msg_type, {"user": words[0], "duration": duration, "reason": reason}
    if verb == "ban":
        duration, reason = split_duration(rest)
        return msg_type, {"address": words[0], "duration": duration, "reason": reason}
    if verb in ("kick", "refuse"):
        return msg_type, {"user": words[0], "reason": " ".join(rest)}
    if verb in ("unblock", "unmute"):
        return msg_type, {"user": words[0]}
    if verb == "unban":
        return msg_type, {"address": words[0]}
    if verb == "priority":
        return msg_type, {"user": words[0], "level": check_priority(words[1])}
    if verb == "role":
        return msg_type, {"user": words[0], "role": words[1]}
    if verb == "admit":
        level = check_priority(words[1]) if len(words) > 1 else None
        return msg_type, {"user": words[0], "priority": level}
    if verb == "audit":
        return msg_type, {"target": words[0] if words else "", "limit": 20}
    if verb == "search":
        # The line clients' syntax (in:#ops from:ann since:7d); the 10 newest.
        a = parse_search_line(" ".join(words), time.time())
        return msg_type, {
            "query": a.query,
            "room": a.room,
            "sender": a.sender,
            "since": a.since,
            "until": a.until,
            "limit": 10,
        }
    return msg_type, {}


def describe(verb: str, result: Any, me: str = "") -> str:
    """A reply's result as lines of text (``me``: whose direct conversations they are)."""
    if verb == "search" and isinstance(result, SearchResult | dict):
        found = (
            result if isinstance(result, SearchResult) else msgspec.convert(result, SearchResult)
        )
        if not found.messages:
            return "search: no messages match"
        more = " (more: narrow it with from:, in:, since:)" if found.next else ""
        head = f"search: the {len(found.messages)} newest{more}"
        return "\n".join([head, *(hit_text(m, me) for m in found.messages)])
    if isinstance(result, ModResult):
        text = f"{result.action} {result.target}: done"
        if result.expires:
            text += f", {format_until(result.expires)}"
        if result.sessions:
            text += f", ended {result.sessions} session(s)"
        return text
    if isinstance(result, list):
        if not result:
            return {"blocks": "no blocks, mutes or bans", "pending": "nobody waits"}.get(
                verb, "nothing"
            )
        return "\n".join(_item(x) for x in result)
    return f"{verb}: done"


def _item(x: Any) -> str:
    if isinstance(x, SanctionInfo):
        until = format_until(x.expires) if x.expires else "until lifted"
        return f"{x.kind} {x.target} by {x.author} {until}" + (f": {x.reason}" if x.reason else "")
    if isinstance(x, PendingUser):
        return f"{x.user} waits" + (f" (from {x.address})" if x.address else "")
    if isinstance(x, AuditEntry):
        return x.text or f"{x.actor} {x.action} {x.target}"
    return str(x)
