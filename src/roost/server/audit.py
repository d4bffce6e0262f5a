"""The audit log and what moderators online see of it.

Every moderation action, manual or automatic, is recorded once here: stored
(who, what, whom, why, when) and pushed as a ``moderation`` event to every
session of a moderator or admin.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.messages import AuditEntry, Moderation
from roost.server import logs
from roost.server.outbox import CONTROL
from roost.store.base import Account, AuditRecord

if TYPE_CHECKING:
    from roost.server.app import Server

log = logging.getLogger("roost.moderation")

# Actor of automatic actions; parentheses cannot occur in a user name.
AUTO = "(auto)"
RANK = {"member": 0, "moderator": 1, "admin": 2}

_VERBS = {
    "block": "blocked",
    "unblock": "unblocked",
    "kick": "kicked",
    "mute": "muted",
    "unmute": "unmuted",
    "ban": "banned",
    "unban": "unbanned",
    "priority": "set the priority of",
    "role": "set the role of",
    "admit": "admitted",
    "refuse": "refused",
    "warn": "warned",
    "lock": "locked password logins of",
    "reset_password": "reset the password of",
    "disable": "disabled",
    "enable": "enabled",
    "delete": "deleted",
    "remove": "removed a message of",
    "room_kick": "put out of a room",
    "room_mute": "muted in a room",
    "room_unmute": "unmuted in a room",
    "room_role": "gave a room role to",
    "room_private": "made private",
    "room_public": "made public",
    "delete_room": "deleted",
    "rename_room": "renamed",
}

# Actions on one's own account: the target is the actor.
_OWN = {"password": "changed their password", "logout_all": "logged out everywhere"}


def rank(account: Account | None) -> int:
    return RANK.get(account.role, 0) if account is not None else 0


def is_staff(account: Account | None) -> bool:
    """Moderators and admins: they receive moderation events and may act."""
    return rank(account) >= RANK["moderator"]


def describe(entry: AuditEntry) -> str:
    """One human sentence for an audit entry."""
    if entry.action == "pending":
        return f"{entry.target} waits for admission ({entry.detail}): admit or refuse"
    verb = _VERBS.get(entry.action, entry.action)
    text = f"{entry.actor} {verb} {entry.target}"
    if entry.action in _OWN:
        text = f"{entry.actor} {_OWN[entry.action]}"
    if entry.detail:
        text += f" ({entry.detail})"
    if entry.reason:
        text += f": {entry.reason}"
    return text


async def record(
    server: Server, actor: str, action: str, target: str, reason: str = "", detail: str = ""
) -> AuditEntry:
    """Store an audit entry and tell the moderators online."""
    rec = AuditRecord(time.time(), actor, action, target, reason, detail)
    if actor == AUTO:
        server.counters.automatic_actions[action] += 1
    rec.id = await server.store.append_audit(rec)
    entry = to_entry(rec)
    on_address = action in ("ban", "unban")
    log.info(
        "audit: %s",
        entry.text,
        extra=logs.fields(
            action,
            user=None if on_address else target,
            address=target if on_address else None,
            reason=reason or None,
        ),
    )
    tell_staff(server, encode(Moderation(entry=entry)))
    return entry


def to_entry(rec: AuditRecord) -> AuditEntry:
    entry = AuditEntry(
        id=rec.id,
        ts=rec.ts,
        actor=rec.actor,
        action=rec.action,
        target=rec.target,
        reason=rec.reason,
        detail=rec.detail,
    )
    entry.text = describe(entry)
    return entry


def tell_staff(server: Server, frame: bytes) -> None:
    """Push one encoded frame to every session of every moderator and admin online."""
    env = Envelope("", 0, CONTROL, frame)
    for user, sessions in server.state.online.items():
        if is_staff(server.accounts.get(user)):
            for conn in sessions:
                if not conn.closing:
                    conn.push(env)
