"""Accounts: one's own password and sessions; admins reset, list, disable, delete.

Built on the moderation mechanisms: authority is checked here on the server,
every admin action is recorded in the audit log, sessions end with a reason
as a block ends them, and other cluster nodes hear of each change through
roost.server.changes (an account change re-reads the account there, and ends
its sessions if it is now disabled or deleted).

A deleted account keeps its row, with status ``deleted`` and no password:
its messages stay in history under its name, and the name cannot be taken
again, so that nobody can later speak as the author of those messages.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    ChangePassword,
    DeleteAccount,
    DisableAccount,
    EnableAccount,
    ListSessions,
    ListUsers,
    LogoutAll,
    ModResult,
    ResetPassword,
    SessionInfo,
    UserInfo,
)
from roost.server.account_status import DELETED, DISABLED, closed_text
from roost.server.audit import record
from roost.server.changes import ACCOUNT, KICK, announce
from roost.server.chat import require_login
from roost.server.moderation import (
    check_reason,
    end_sessions,
    require_staff,
    room_notice,
    sessions_of,
    subject,
)

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

MAX_PASSWORD = 1024  # bytes hashed by argon2 per attempt stay bounded


def check_password(password: str) -> str:
    if not password:
        raise RoostError(ErrorCode.BAD_REQUEST, "the password must not be empty")
    if len(password) > MAX_PASSWORD:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"a password may have at most {MAX_PASSWORD} characters"
        )
    return password


def end_everywhere(
    server: Server, name: str, code: str, text: str, keep: ClientConnection | None = None
) -> int:
    """End the sessions of ``name`` here (but ``keep``) and on the other nodes."""
    ended = 0
    for conn in sessions_of(server, name):
        if conn is not keep:
            conn.close(code, text)
            ended += 1
    announce(server, KICK, name, text)
    return ended


# --- one's own account ---------------------------------------------------------------


async def handle_change_password(
    server: Server, conn: ClientConnection, msg: ChangePassword
) -> ModResult:
    account = require_login(conn)
    new = check_password(msg.new)
    # Guessing the old password from a stolen session is held to the login limits.
    await server.protection.check_login(conn, account.name)
    if not await server.passwords.verify(account.password_hash, msg.old):
        await server.protection.login_failed(conn, account.name)
        raise RoostError(ErrorCode.AUTH_FAILED, "the old password is wrong")
    account.password_hash = await server.passwords.hash(new)
    await server.store.update_account(account.name, password_hash=account.password_hash)
    announce(server, ACCOUNT, account.name)
    await record(server, account.name, "password", account.name)
    return ModResult("password", account.name)


async def handle_list_sessions(
    server: Server, conn: ClientConnection, msg: ListSessions
) -> list[SessionInfo]:
    """This node's live sessions of the account, then its stored tokens."""
    account = require_login(conn)
    now = time.time()
    mono = time.monotonic()
    here = sorted(server.state.online.get(account.name, ()), key=lambda c: c.connected_at)
    live = [
        SessionInfo(
            kind="live", since=now - (mono - c.connected_at), address=c.address, current=c is conn
        )
        for c in here
        if not c.closing
    ]
    ttl = server.config.token_ttl
    tokens = [
        SessionInfo(kind="token", since=t.expires - ttl, expires=t.expires, token=t.token_hash[:12])
        for t in await server.store.list_tokens(account.name, now)
    ]
    return live + tokens


async def handle_logout_all(server: Server, conn: ClientConnection, msg: LogoutAll) -> ModResult:
    account = require_login(conn)
    revoked = await server.store.revoke_tokens(account.name)
    text = "you logged out everywhere"
    ended = end_everywhere(server, account.name, str(ErrorCode.LOGGED_OUT), text, keep=conn)
    await record(
        server,
        account.name,
        "logout_all",
        account.name,
        detail=f"revoked {revoked} token(s), ended {ended} other session(s) here",
    )
    return ModResult("logout_all", account.name, sessions=ended)


# --- admins ----------------------------------------------------------------------------


async def handle_reset_password(
    server: Server, conn: ClientConnection, msg: ResetPassword
) -> ModResult:
    actor = require_staff(conn, "reset passwords", admin=True)
    target = await subject(server, actor, msg.user, "reset the password of")
    if target.status == DELETED:
        raise RoostError(ErrorCode.NO_SUCH_USER, f"{target.name} was deleted")
    target.password_hash = await server.passwords.hash(check_password(msg.password))
    await server.store.update_account(target.name, password_hash=target.password_hash)
    announce(server, ACCOUNT, target.name)
    await server.store.revoke_tokens(target.name)
    text = f"your password was reset by {actor.name}"
    ended = end_everywhere(server, target.name, str(ErrorCode.LOGGED_OUT), text)
    await record(
        server, actor.name, "reset_password", target.name, detail=f"ended {ended} session(s)"
    )
    return ModResult("reset_password", target.name, sessions=ended)


async def handle_list_users(
    server: Server, conn: ClientConnection, msg: ListUsers
) -> list[UserInfo]:
    require_staff(conn, "list users", admin=True)
    now = time.time()
    ttl = server.config.token_ttl
    ended = await server.store.last_seen()
    out = []
    for a in sorted(await server.store.list_accounts(), key=lambda a: a.name):
        online = bool(server.state.online.get(a.name)) or await server.bus.online_elsewhere(a.name)
        if online:
            seen = now
        else:
            # When the last session ended; a login since (say a session on a node
            # that died before it could store its end) shows in its token.
            tokens = await server.store.list_tokens(a.name, now)
            seen = max((t.expires - ttl for t in tokens), default=0.0)
            seen = max(seen, ended.get(a.name, 0.0))
        out.append(
            UserInfo(
                user=a.name,
                role=a.role,
                priority=a.priority,
                status=a.status,
                created=a.created,
                online=online,
                last_seen=seen,
            )
        )
    return out


async def close_account(
    server: Server, conn: ClientConnection, user: str, reason: str, status: str
) -> ModResult:
    """Disable or delete: the status is stored, tokens revoked, sessions end with the reason."""
    what = "disable" if status == DISABLED else "delete"
    actor = require_staff(conn, f"{what} accounts", admin=True)
    target = await subject(server, actor, user, what)
    if target.status == DELETED:
        raise RoostError(ErrorCode.NO_SUCH_USER, f"{target.name} was deleted")
    if target.status == status:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is already {status}")
    reason = check_reason(reason)
    fields: dict[str, Any] = {"status": status}
    if status == DELETED:
        fields["password_hash"] = target.password_hash = ""
    target.status = status
    await server.store.update_account(target.name, **fields)
    await server.store.revoke_tokens(target.name)
    if status == DELETED:
        for room in sorted(server.state.rooms_of.get(target.name, ())):
            server.state.remove_member(server.state.rooms[room], target.name)
            await server.state.tracked(room, server.store.remove_member(room, target.name))
    # The other nodes re-read the account and end its sessions there (changes._account).
    announce(server, ACCOUNT, target.name)
    code = str(ErrorCode.DISABLED) if status == DISABLED else DELETED
    room_notice(server, target.name, f"{target.name} was {what}d by {actor.name}")
    ended = end_sessions(server, target.name, code, closed_text(status, reason))
    await record(server, actor.name, what, target.name, reason, f"ended {ended} session(s)")
    return ModResult(what, target.name, reason, sessions=ended)


async def handle_disable(server: Server, conn: ClientConnection, msg: DisableAccount) -> ModResult:
    return await close_account(server, conn, msg.user, msg.reason, DISABLED)


async def handle_delete(server: Server, conn: ClientConnection, msg: DeleteAccount) -> ModResult:
    return await close_account(server, conn, msg.user, msg.reason, DELETED)


async def handle_enable(server: Server, conn: ClientConnection, msg: EnableAccount) -> ModResult:
    actor = require_staff(conn, "enable accounts", admin=True)
    target = await subject(server, actor, msg.user, "enable")
    if target.status != DISABLED:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is not disabled")
    target.status = "active"
    await server.store.update_account(target.name, status="active")
    announce(server, ACCOUNT, target.name)
    await record(server, actor.name, "enable", target.name)
    return ModResult("enable", target.name)


HANDLERS: dict[type, Any] = {
    ChangePassword: handle_change_password,
    ResetPassword: handle_reset_password,
    ListUsers: handle_list_users,
    DisableAccount: handle_disable,
    EnableAccount: handle_enable,
    DeleteAccount: handle_delete,
    ListSessions: handle_list_sessions,
    LogoutAll: handle_logout_all,
}
