"""Moderation: roles checked on every request, and the actions behind them.

Moderators may act on members; admins on anyone but themselves. Priority
levels and roles are set by admins only (moderators may admit a newcomer at
normal or low priority). Each action takes effect in memory at once (a block
ends the user's sessions in the same loop turn), is stored so that it
survives a restart, and is recorded in the audit log, which also tells the
moderators online.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.durations import MAX_DURATION, format_duration
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    NORMAL,
    PRIORITY_LABELS,
    Admit,
    Admitted,
    Audit,
    AuditEntry,
    BanAddress,
    Block,
    Kick,
    ListBlocks,
    ListPending,
    ModResult,
    Mute,
    Notice,
    PendingUser,
    Refuse,
    SanctionInfo,
    Send,
    SetPriority,
    SetRole,
    UnbanAddress,
    Unblock,
    Unmute,
)
from roost.protocol.names import check_user
from roost.server.admission import PENDING
from roost.server.audit import AUTO, RANK, is_staff, rank, record, to_entry
from roost.server.changes import ACCOUNT, KICK, SANCTIONS, announce
from roost.server.chat import join_default_rooms, require_login, start_session
from roost.server.outbox import CONTROL
from roost.server.sanctions import BAN, BLOCK, MUTE, covers, parse_network, show_network, terms
from roost.store.base import Account, Sanction

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

MAX_REASON = 500
UNDO = {BLOCK: "unblock", MUTE: "unmute", BAN: "unban"}
DONE = {BLOCK: "blocked", MUTE: "muted", BAN: "banned"}

# --- who may do what -----------------------------------------------------------------


def require_staff(conn: ClientConnection, what: str, admin: bool = False) -> Account:
    """The acting account, if its role allows ``what``."""
    account = require_login(conn)
    needed = RANK["admin"] if admin else RANK["moderator"]
    if rank(account) < needed:
        who = "admins" if admin else "moderators and admins"
        raise RoostError(ErrorCode.FORBIDDEN, f"only {who} may {what}")
    return account


async def subject(
    server: Server, actor: Account, name: str, what: str, allow_self: bool = False
) -> Account:
    """The account an action is aimed at, if ``actor`` outranks it."""
    account = await server.find_account(check_user(name))
    if account is None:
        raise RoostError(ErrorCode.NO_SUCH_USER, f"no user named {name!r}")
    if account.name == actor.name:
        if allow_self:
            return account
        raise RoostError(ErrorCode.BAD_REQUEST, f"you cannot {what} yourself")
    if actor.role != "admin" and rank(account) >= rank(actor):
        raise RoostError(
            ErrorCode.FORBIDDEN, f"moderators cannot {what} other moderators or admins"
        )
    return account


def check_duration(seconds: float) -> float:
    if math.isnan(seconds) or seconds < 0:
        raise RoostError(ErrorCode.BAD_REQUEST, "a duration must be 0 (until lifted) or positive")
    return min(seconds, MAX_DURATION)


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"a reason may have at most {MAX_REASON} characters"
        )
    return reason


def check_level(level: int) -> int:
    if level not in PRIORITY_LABELS:
        raise RoostError(ErrorCode.BAD_REQUEST, "priority must be 0-3 (urgent, high, normal, low)")
    return level


def span(duration: float) -> str:
    return f"for {format_duration(duration)}" if duration > 0 else "until lifted"


# --- effects on connections ----------------------------------------------------------


def sessions_of(server: Server, name: str) -> set[ClientConnection]:
    """Every open connection of ``name``: sessions and lobby seats."""
    conns = set(server.state.online.get(name, ())) | server.lobby.of(name)
    return {c for c in conns if not c.closing}


def end_sessions(server: Server, name: str, code: str, reason: str) -> int:
    conns = sessions_of(server, name)
    for conn in conns:
        conn.close(code, reason)
    return len(conns)


def tell_user(server: Server, name: str, text: str) -> None:
    for conn in sessions_of(server, name):
        conn.send(Notice(text=text))


def room_notice(server: Server, user: str, text: str) -> None:
    """A notice to every room ``user`` is in (through the bus, like room events)."""
    for room in sorted(server.state.rooms_of.get(user, ())):
        frame = encode(Notice(text=text, room=room))
        server.bus.publish(Envelope(room, 0, CONTROL, frame))


def impose(
    server: Server, kind: str, target: str, actor: str, duration: float, reason: str
) -> Sanction:
    """A sanction in force from now on; the caller acts on it, then stores it."""
    now = time.time()
    s = Sanction(kind, target, reason, actor, now, now + duration if duration > 0 else 0.0)
    server.sanctions.put(s)
    server.counters.sanctions[kind, "auto" if actor == AUTO else "staff"] += 1
    return s


async def lift(
    server: Server, kind: str, target: str, actor: str, shown: str, reason: str = ""
) -> None:
    """Remove a sanction (from memory and store) and record it; an error if there was none."""
    held = server.sanctions.pop(kind, target)
    stored = await server.store.delete_sanction(kind, target)
    announce(server, SANCTIONS, kind)
    if held is None and not stored:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{shown} is not {DONE[kind]}")
    await record(server, actor, UNDO[kind], shown, reason)


# --- actions (also used by automatic protection, with actor AUTO) --------------------


async def block(server: Server, actor: str, name: str, duration: float, reason: str) -> ModResult:
    s = impose(server, BLOCK, name, actor, duration, reason)
    # The sessions end in this loop turn; storing the block waits for the next commit.
    sessions = end_sessions(server, name, str(ErrorCode.BLOCKED), f"you are blocked {terms(s)}")
    room_notice(server, name, f"{name} was blocked {terms(s)}")
    await server.store.put_sanction(s)
    announce(server, SANCTIONS, BLOCK)
    detail = span(duration) + (f", ended {sessions} session(s)" if sessions else "")
    await record(server, actor, "block", name, reason, detail)
    return ModResult("block", name, reason, s.expires, sessions)


async def mute(server: Server, actor: str, name: str, duration: float, reason: str) -> ModResult:
    s = impose(server, MUTE, name, actor, duration, reason)
    tell_user(server, name, f"you are muted {terms(s)}")
    room_notice(server, name, f"{name} was muted {terms(s)}")
    await server.store.put_sanction(s)
    announce(server, SANCTIONS, MUTE)
    await record(server, actor, "mute", name, reason, span(duration))
    return ModResult("mute", name, reason, s.expires)


async def warn(server: Server, target: str, conns: set[ClientConnection], cause: str) -> None:
    for conn in conns:
        if not conn.closing:
            conn.send(
                Notice(text=f"warning: {cause}; if it goes on you will be muted, then blocked")
            )
    await record(server, AUTO, "warn", target, cause)


async def ban(server: Server, actor: str, address: str, duration: float, reason: str) -> ModResult:
    net = parse_network(address)
    shown = show_network(net)
    s = impose(server, BAN, str(net), actor, duration, reason)
    # Staff sessions stay, so that a ban covering a moderator's own address can be undone.
    hit = [c for c in server.connections if not is_staff(c.account) and covers(net, c.address)]
    for conn in hit:
        conn.close(str(ErrorCode.BANNED), f"your address is banned {terms(s)}")
    await server.store.put_sanction(s)
    announce(server, SANCTIONS, BAN)
    detail = span(duration) + (f", ended {len(hit)} connection(s)" if hit else "")
    await record(server, actor, "ban", shown, reason, detail)
    return ModResult("ban", shown, reason, s.expires, len(hit))


async def expire(server: Server) -> None:
    """Lift sanctions whose time is up (the lookups already ignore them)."""
    for s in server.sanctions.expired(time.time()):
        shown = show_network(s.target) if s.kind == BAN else s.target
        await lift(server, s.kind, s.target, AUTO, shown, "expired")


def check_mute(server: Server, conn: ClientConnection, msg: Send) -> None:
    """Send check: a muted account cannot post."""
    if not server.sanctions.mutes or conn.user is None:
        return
    s = server.sanctions.mute_of(conn.user, time.time())
    if s is not None:
        raise RoostError(ErrorCode.MUTED, f"you are muted {terms(s)}")


# --- request handlers ------------------------------------------------------------------


async def handle_block(server: Server, conn: ClientConnection, msg: Block) -> ModResult:
    actor = require_staff(conn, "block users")
    target = await subject(server, actor, msg.user, "block")
    return await block(
        server, actor.name, target.name, check_duration(msg.duration), check_reason(msg.reason)
    )


async def handle_unblock(server: Server, conn: ClientConnection, msg: Unblock) -> ModResult:
    actor = require_staff(conn, "unblock users")
    target = await subject(server, actor, msg.user, "unblock")
    await lift(server, BLOCK, target.name, actor.name, target.name)
    return ModResult("unblock", target.name)


async def handle_kick(server: Server, conn: ClientConnection, msg: Kick) -> ModResult:
    actor = require_staff(conn, "kick users")
    target = await subject(server, actor, msg.user, "kick")
    reason = check_reason(msg.reason)
    here = bool(sessions_of(server, target.name))
    if not here and not await server.bus.online_elsewhere(target.name):
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is not connected")
    said = f"by {actor.name}" + (f": {reason}" if reason else "")
    sessions = end_sessions(server, target.name, "kicked", f"you were kicked {said}")
    announce(server, KICK, target.name, f"you were kicked {said}")
    room_notice(server, target.name, f"{target.name} was kicked {said}")
    await record(server, actor.name, "kick", target.name, reason, f"ended {sessions} session(s)")
    return ModResult("kick", target.name, reason, sessions=sessions)


async def handle_mute(server: Server, conn: ClientConnection, msg: Mute) -> ModResult:
    actor = require_staff(conn, "mute users")
    target = await subject(server, actor, msg.user, "mute")
    return await mute(
        server, actor.name, target.name, check_duration(msg.duration), check_reason(msg.reason)
    )


async def handle_unmute(server: Server, conn: ClientConnection, msg: Unmute) -> ModResult:
    actor = require_staff(conn, "unmute users")
    target = await subject(server, actor, msg.user, "unmute")
    await lift(server, MUTE, target.name, actor.name, target.name)
    tell_user(server, target.name, f"you may speak again (unmuted by {actor.name})")
    return ModResult("unmute", target.name)


async def handle_priority(server: Server, conn: ClientConnection, msg: SetPriority) -> ModResult:
    actor = require_staff(conn, "set priority levels", admin=True)
    target = await subject(server, actor, msg.user, "set the priority of", allow_self=True)
    level = check_level(msg.level)
    target.priority = level  # the cached account is shared by all its sessions
    await server.store.update_account(target.name, priority=level)
    announce(server, ACCOUNT, target.name)
    label = PRIORITY_LABELS[level]
    tell_user(server, target.name, f"your priority level is now {label} (set by {actor.name})")
    await record(server, actor.name, "priority", target.name, detail=f"to {label}")
    return ModResult("priority", target.name, priority=level)


async def handle_role(server: Server, conn: ClientConnection, msg: SetRole) -> ModResult:
    actor = require_staff(conn, "change roles", admin=True)
    target = await subject(server, actor, msg.user, "change the role of")
    role = msg.role.strip().lower()
    if role not in RANK:
        raise RoostError(ErrorCode.BAD_REQUEST, "role must be admin, moderator or member")
    target.role = role
    await server.store.update_account(target.name, role=role)
    announce(server, ACCOUNT, target.name)
    tell_user(server, target.name, f"your role is now {role} (set by {actor.name})")
    await record(server, actor.name, "role", target.name, detail=f"to {role}")
    return ModResult("role", target.name, role=role)


async def handle_ban(server: Server, conn: ClientConnection, msg: BanAddress) -> ModResult:
    actor = require_staff(conn, "ban addresses")
    return await ban(
        server, actor.name, msg.address, check_duration(msg.duration), check_reason(msg.reason)
    )


async def handle_unban(server: Server, conn: ClientConnection, msg: UnbanAddress) -> ModResult:
    actor = require_staff(conn, "unban addresses")
    net = parse_network(msg.address)
    shown = show_network(net)
    await lift(server, BAN, str(net), actor.name, shown)
    return ModResult("unban", shown)


def handle_blocks(server: Server, conn: ClientConnection, msg: ListBlocks) -> list[SanctionInfo]:
    require_staff(conn, "list blocks")
    now = time.time()
    return [
        SanctionInfo(
            kind=s.kind,
            target=show_network(s.target) if s.kind == BAN else s.target,
            reason=s.reason,
            author=s.author,
            created=s.created,
            expires=s.expires,
        )
        for s in server.sanctions.all()
        if not s.expires or s.expires > now
    ]


def handle_pending(server: Server, conn: ClientConnection, msg: ListPending) -> list[PendingUser]:
    require_staff(conn, "list the admission queue")
    waiting = sorted(
        (a for a in server.accounts.values() if a.status == PENDING), key=lambda a: a.created
    )
    return [
        PendingUser(
            user=a.name,
            since=a.created,
            online=bool(server.lobby.of(a.name)),
            address=server.lobby.address_of(a.name),
        )
        for a in waiting
    ]


async def handle_admit(server: Server, conn: ClientConnection, msg: Admit) -> ModResult:
    actor = require_staff(conn, "admit newcomers")
    target = await subject(server, actor, msg.user, "admit")
    if target.status != PENDING:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is not waiting for admission")
    fields: dict[str, Any] = {"status": "active"}
    if msg.priority is not None:
        level = check_level(msg.priority)
        if level < NORMAL and actor.role != "admin":
            raise RoostError(ErrorCode.FORBIDDEN, "only admins may give a priority above normal")
        fields["priority"] = target.priority = level
    target.status = "active"
    await server.store.update_account(target.name, **fields)
    await join_default_rooms(server, target.name)
    announce(server, ACCOUNT, target.name)
    detail = f"at {PRIORITY_LABELS[target.priority]} priority" if msg.priority is not None else ""
    for waiting in server.lobby.of(target.name):
        await let_in(server, waiting, target, actor.name)
    await record(server, actor.name, "admit", target.name, detail=detail)
    return ModResult("admit", target.name, priority=target.priority)


async def let_in(server: Server, conn: ClientConnection, account: Account, actor: str) -> None:
    """A lobby connection becomes a normal session, without reconnecting."""
    server.lobby.discard(conn)
    conn.pending = False
    try:
        session = await start_session(server, conn, account)
    except RoostError:
        return  # closed meanwhile, or blocked since
    conn.send(Admitted(session=session))
    conn.send(Notice(text=f"welcome: {actor} admitted you"))


async def handle_refuse(server: Server, conn: ClientConnection, msg: Refuse) -> ModResult:
    actor = require_staff(conn, "refuse newcomers")
    target = await subject(server, actor, msg.user, "refuse")
    if target.status != PENDING:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is not waiting for admission")
    reason = check_reason(msg.reason)
    said = f"by {actor.name}" + (f": {reason}" if reason else "")
    sessions = end_sessions(server, target.name, "refused", f"your registration was refused {said}")
    # The name is free again; the audit log keeps the story.
    server.accounts.pop(target.name, None)
    await server.store.delete_account(target.name)
    announce(server, ACCOUNT, target.name)
    await record(server, actor.name, "refuse", target.name, reason)
    return ModResult("refuse", target.name, reason, sessions=sessions)


async def handle_audit(server: Server, conn: ClientConnection, msg: Audit) -> list[AuditEntry]:
    require_staff(conn, "read the audit log")
    limit = max(1, min(msg.limit, 1000))
    target = msg.target.strip().lower()
    rows = await server.store.audit_log(limit, target, max(0, msg.before))
    return [to_entry(r) for r in rows]


HANDLERS: dict[type, Any] = {
    Block: handle_block,
    Unblock: handle_unblock,
    Kick: handle_kick,
    Mute: handle_mute,
    Unmute: handle_unmute,
    SetPriority: handle_priority,
    SetRole: handle_role,
    BanAddress: handle_ban,
    UnbanAddress: handle_unban,
    ListBlocks: handle_blocks,
    ListPending: handle_pending,
    Admit: handle_admit,
    Refuse: handle_refuse,
    Audit: handle_audit,
}

# The audit log is only read.
CONCURRENT = frozenset({Audit})
