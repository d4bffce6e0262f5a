"""Request handlers for accounts, rooms, messages and history.

A handler takes (server, connection, request) and returns the reply's result,
or an awaitable of it; a RoostError becomes an error reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    PROTOCOL_VERSION,
    ClientHello,
    FileInfo,
    History,
    HistoryResult,
    Join,
    Joined,
    JoinResult,
    Leave,
    Left,
    ListRooms,
    Login,
    LoginResult,
    Logout,
    MemberInfo,
    Message,
    Ping,
    Resume,
    RoomInfo,
    Send,
    SendResult,
    Who,
)
from roost.protocol.names import check_room, check_user, dm_key, dm_parties
from roost.server import logs
from roost.server.account_status import check_open
from roost.server.admission import PENDING, enter_lobby
from roost.server.auth import new_token, raw_token_digest, split_digests
from roost.server.changes import ACCOUNT, ROOM, announce
from roost.server.connection import LATER, BulkReply, Replier
from roost.server.message_refs import live_message
from roost.server.outbox import chat_class
from roost.server.room_access import (
    check_may_join,
    info,
    joined_by_invitation,
    made_by,
    may_see,
    muted_until,
    room_role,
)
from roost.server.sanctions import banned_text, blocked_error
from roost.server.state import Room, being_renamed
from roost.store.base import Account, FileRecord, StoredMessage

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

log = logging.getLogger("roost.server")


def require_login(conn: ClientConnection) -> Account:
    if conn.account is None:
        if conn.pending:
            raise RoostError(ErrorCode.PENDING, "your account waits for a moderator to admit it")
        raise RoostError(ErrorCode.NOT_LOGGED_IN, "log in first")
    return conn.account


def require_no_login(conn: ClientConnection) -> None:
    """For login and resume: the connection must not have a session (or a lobby seat) yet."""
    if conn.pending:
        raise RoostError(ErrorCode.PENDING, "your account waits for a moderator to admit it")
    if conn.account is not None:
        raise RoostError(ErrorCode.ALREADY_LOGGED_IN, f"already logged in as {conn.user}")


def hello(server: Server, conn: ClientConnection, msg: ClientHello) -> None:
    if msg.version != PROTOCOL_VERSION:
        conn.send_error(
            None,
            RoostError(
                ErrorCode.VERSION,
                f"protocol version {msg.version} is not supported; this server speaks {PROTOCOL_VERSION}",
            ),
        )
        conn.close(str(ErrorCode.VERSION), "unsupported protocol version")
        return
    conn.hello_done = True


async def login(server: Server, conn: ClientConnection, msg: Login) -> LoginResult:
    require_no_login(conn)
    name = check_user(msg.user)
    # Refused before any hashing, so guessing costs the guesser, not the server.
    await server.protection.check_login(conn, name)
    account = await server.find_account(name)
    if account is None:
        if not msg.register:
            await server.passwords.waste_time()
            await server.protection.login_failed(conn, name)
            raise RoostError(ErrorCode.AUTH_FAILED, "unknown user or wrong password")
        account = await register(server, conn, name, msg.password)
        return await start_session(server, conn, account, new=True)
    if not await server.passwords.verify(account.password_hash, msg.password):
        await server.protection.login_failed(conn, name)
        raise RoostError(ErrorCode.AUTH_FAILED, "unknown user or wrong password")
    return await start_session(server, conn, account)


async def register(server: Server, conn: ClientConnection, name: str, password: str) -> Account:
    if server.config.registration == "closed":
        raise RoostError(
            ErrorCode.REGISTRATION_CLOSED,
            "registration is closed on this server; ask an admin for an account",
        )
    ban = server.sanctions.ban_of(conn.address, time.time())
    if ban is not None:
        raise RoostError(ErrorCode.BANNED, banned_text(ban))
    if len(password) < 1:
        raise RoostError(ErrorCode.BAD_REQUEST, "the password must not be empty")
    # With approval, a newcomer waits (roost.server.admission) and joins rooms once admitted.
    approve = server.config.registration == "approve"
    status = PENDING if approve else "active"
    account = Account(
        name, await server.passwords.hash(password), status=status, created=time.time()
    )
    if not await server.store.create_account(account):
        raise RoostError(ErrorCode.NAME_TAKEN, f"the name {name!r} is taken")
    server.accounts[name] = account
    server.counters.registrations += 1

    announce(server, ACCOUNT, name)
    if not approve:
        await join_default_rooms(server, name)
    return account


async def join_default_rooms(server: Server, name: str) -> None:
    """Make a new (or newly admitted) account a member of the configured default rooms."""
    for room_name in server.config.default_rooms:
        room = server.state.rooms.get(room_name)
        if room is not None:
            server.state.add_member(room, name)
            await server.state.tracked(room_name, server.store.add_member(room_name, name))
            announce(server, ROOM, room_name)


def check_blocked(server: Server, name: str) -> None:
    block = server.sanctions.block_of(name, time.time())
    if block is not None:
        raise blocked_error(name, block)


async def start_session(
    server: Server, conn: ClientConnection, account: Account, new: bool = False
) -> LoginResult:
    """Turn a connection whose credentials checked out into a session (or a lobby seat)."""
    check_blocked(server, account.name)
    check_open(account.status)
    if account.status == PENDING:
        return await enter_lobby(server, conn, account, new)
    token = new_token()
    digest = raw_token_digest(token)
    await server.store.save_token(digest.hex(), account.name, time.time() + server.config.token_ttl)
    conn.tokens += digest
    if conn.closing:
        raise RoostError(ErrorCode.INTERNAL, "connection closed during login")
    # Again: a block (or disabling) may have landed while the token was being stored.
    check_blocked(server, account.name)
    check_open(account.status)
    server.attach(conn, account)
    server.counters.logins[conn.kind] += 1
    log.info(
        "login %s as %s",
        conn.peer,
        account.name,
        extra=logs.fields("login", account.name, conn.address),
    )
    rooms = server.state.rooms_of.get(account.name, set())
    return LoginResult(
        user=account.name,
        role=account.role,
        priority=account.priority,
        token=token,
        rooms=sorted(rooms),
        conversations=await server.store.conversations_of(account.name, rooms),
        read=await server.store.read_markers(account.name),
        mentions=await server.store.mention_counts(account.name),
        renamed=server.state.renamed_for(rooms),
    )


async def resume(server: Server, conn: ClientConnection, msg: Resume) -> LoginResult:
    require_no_login(conn)
    digest = raw_token_digest(msg.token)
    user = await server.store.token_user(digest.hex(), time.time())
    account = await server.find_account(user) if user else None
    if account is None:
        server.counters.login_failures += 1
        log.info(
            "resume refused for %s: unknown or expired token",
            conn.peer,
            extra=logs.fields("login_failed", address=conn.address, reason="unknown token"),
        )
        raise RoostError(ErrorCode.AUTH_FAILED, "the session token is unknown or expired")
    conn.tokens += digest
    return await start_session(server, conn, account)


def conversation_key(server: Server, me: str, target: str) -> str:
    """Room name, ``@user`` or a ``@a+b`` key, resolved and checked for ``me``."""
    if target.startswith("@"):
        parties = dm_parties(target)
        if parties is not None:
            if me not in parties:
                raise RoostError(ErrorCode.FORBIDDEN, "that is not your conversation")
            return target
        peer = check_user(target[1:])
        if peer not in server.accounts:
            raise RoostError(ErrorCode.NO_SUCH_USER, f"no user named {peer!r}")
        return dm_key(me, peer)
    room = server.require_room(check_room(target))
    if me not in room.members:
        raise RoostError(
            ErrorCode.NOT_A_MEMBER, f"you are not in room {room.name!r}; join it first"
        )
    return room.name


def check_text(server: Server, text: str, what: str = "message") -> None:
    """A message's (or an edit's) text: not empty, within max_text."""
    if len(text) > server.config.max_text:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"{what} of {len(text)} characters exceeds the limit of {server.config.max_text}",
        )
    if not text:
        raise RoostError(ErrorCode.BAD_REQUEST, f"empty {what}")


def send(server: Server, conn: ClientConnection, msg: Send) -> Any:
    account = require_login(conn)
    check_text(server, msg.text)
    key = conversation_key(server, account.name, msg.to)
    priority = account.priority
    if msg.priority is not None:
        if not 0 <= msg.priority <= 3:
            raise RoostError(ErrorCode.BAD_REQUEST, "priority must be 0..3")
        priority = max(priority, msg.priority)  # only a lower importance may be asked for
    if msg.reply_to:
        # The answered message is looked up in the store first; plain sends stay synchronous.
        return _send_reply(server, conn, account.name, key, priority, msg)
    for check in server.send_checks:
        check(server, conn, msg)
    reply = conn.reply_later(msg)
    try:
        post_message(server, key, account.name, msg.text, priority, reply)
    except Exception as exc:
        reply(None, exc)  # the reply is owed (and counted) once reply_later was called
    return LATER


async def _send_reply(
    server: Server, conn: ClientConnection, sender: str, key: str, priority: int, msg: Send
) -> SendResult:
    await live_message(server.store, key, msg.reply_to)
    for check in server.send_checks:
        check(server, conn, msg)
    return await post_and_wait(server, key, sender, msg.text, priority, reply_to=msg.reply_to)


async def post_and_wait(
    server: Server,
    key: str,
    sender: str,
    text: str,
    priority: int,
    kind: str = "text",
    ref: int = 0,
    reply_to: int = 0,
) -> SendResult:
    """post_message for an async handler: the SendResult once stored and published."""
    done: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()

    def then(result: Any, exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)

    post_message(server, key, sender, text, priority, then, kind=kind, ref=ref, reply_to=reply_to)
    return await done


def post_message(
    server: Server,
    key: str,
    sender: str,
    text: str,
    priority: int,
    then: Replier,
    file: FileRecord | None = None,
    kind: str = "text",
    ref: int = 0,
    reply_to: int = 0,
) -> None:
    """Store a message and publish it; ``then(SendResult, None)`` or ``then(None, error)``.

    With ``file``, the message is the offer of that file (stored with it).
    ``kind``/``ref``/``reply_to``: an event about message ``ref``, or a reply
    (docs/protocol.md 5.3).
    With ack_after_store (the default) the message is published and ``then``
    called in the loop turn its row is committed; without, both at once.
    Raises if the room is gone, or being renamed, since ``key`` was looked up
    (an upload that finishes later, a reply that waited for the store).
    """
    if not key.startswith("@"):
        room = server.state.rooms.get(key)
        if room is None:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{key} was renamed or deleted meanwhile")
        if key in server.state.renaming:
            raise being_renamed(key)

    def publish(rec: StoredMessage) -> None:
        frame = encode(wire_message(rec))
        klass = chat_class(priority)
        server.counters.stored[klass] += 1
        server.bus.publish(Envelope(key, rec.seq, klass, frame))
        if kind == "text":  # an edit, reaction or removal mentions no one anew
            server.activity.note_message(key, sender, rec.seq, text)
        then(SendResult(room=key, seq=rec.seq, ts=rec.ts, priority=priority), None)

    if not server.config.ack_after_store:
        publish(
            server.store.append_message(
                key, sender, text, priority, time.time(), _log_failure, file, kind, ref, reply_to
            )
        )
        return

    def stored(exc: BaseException | None) -> None:
        if exc is not None:
            then(None, exc)
        else:
            publish(rec)  # stored: delivered even if its sender has gone meanwhile

    rec = server.store.append_message(
        key, sender, text, priority, time.time(), stored, file, kind, ref, reply_to
    )


def _log_failure(exc: BaseException | None) -> None:
    """on_stored when the sender was acknowledged before the store (ack_after_store off)."""
    if exc is not None:
        log.error("a message acknowledged before the store was lost: %s", exc)


async def join(server: Server, conn: ClientConnection, msg: Join) -> JoinResult:
    account = require_login(conn)
    name = check_room(msg.room)
    created = False
    room = server.state.rooms.get(name)
    if room is None:
        room, created = await _new_room(server, account.name, name, msg)
    if account.name not in room.members:
        if not created:
            check_may_join(room, account)
        server.state.add_member(room, account.name)
        try:
            await server.store.add_member(name, account.name)
        except RoostError:
            # Deleted or renamed meanwhile (on another node, say: the store refuses
            # a join its delete or rename did not take), or the store is away.
            server.state.remove_member(room, account.name)
            raise
        if created:
            await made_by(server, room, account.name)
        await joined_by_invitation(server, room, account.name)
        announce(server, ROOM, name)
        event = Joined(room=name, user=account.name)
        server.member_event(room, account.name, event, server.is_quiet(room))
    return JoinResult(
        room=name,
        last_seq=await server.store.last_seq(name),
        created=created,
        quiet=server.is_quiet(room),
        topic=room.topic,
        private=room.private,
        role=room_role(room, account.name),
    )


async def _new_room(server: Server, creator: str, name: str, msg: Join) -> tuple[Room, bool]:
    """A room this node does not hold: made now, or one another node made; and whether made."""
    rec = None
    created = msg.create and await server.store.create_room(name, creator, time.time(), msg.private)
    if not created:
        # A room another node made is in the store before this node hears of it.
        rec = await server.store.get_room(name)
        if rec is None:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"no room named {name!r}")
        if rec.renamed_to:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{name} was renamed to #{rec.renamed_to}")
        if rec.deleted:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"room {name!r} was deleted by an admin")
    held = server.state.rooms.get(name)  # another join on this node got here first
    if held is not None:
        return held, created
    room = server.state.rooms[name] = Room(name, private=msg.private and created)
    if rec is not None:
        room.take(rec)
        for user in rec.members:
            server.state.add_member(room, user)
    return room, created


async def leave(server: Server, conn: ClientConnection, msg: Leave) -> dict[str, str]:
    account = require_login(conn)
    room = server.require_room(check_room(msg.room))
    if account.name not in room.members:
        raise RoostError(ErrorCode.NOT_A_MEMBER, f"you are not in room {room.name!r}")
    # Announced to the room as it was, with the leaver: a room that shrinks to
    # the limit by this leave was quiet when it happened.
    quiet = server.is_quiet(room)
    server.state.remove_member(room, account.name)
    await server.store.remove_member(room.name, account.name)
    announce(server, ROOM, room.name)
    server.member_event(room, account.name, Left(room=room.name, user=account.name), quiet)
    return {"room": room.name}


def list_rooms(server: Server, conn: ClientConnection, msg: ListRooms) -> list[RoomInfo]:
    account = require_login(conn)
    return [
        info(server, room, account)
        for room in sorted(server.state.rooms.values(), key=lambda r: r.name)
        if may_see(room, account)
    ]


def who(server: Server, conn: ClientConnection, msg: Who) -> list[MemberInfo]:
    account = require_login(conn)
    room = server.require_room(check_room(msg.room))
    if not may_see(room, account):
        raise RoostError(ErrorCode.NO_SUCH_ROOM, f"no room named {room.name!r}")
    out = []
    away = server.activity.away
    now = time.time()
    here, elsewhere = server.state.online, server.bus.online_on_others()
    for user in sorted(room.members):
        acc = server.accounts.get(user)
        online = user in here or user in elsewhere
        reason = away.get(user) if online else None
        out.append(
            MemberInfo(
                user=user,
                online=online,
                role=acc.role if acc else "member",
                away=reason is not None,
                reason=reason or "",
                room_role=room_role(room, user),
                muted=muted_until(room, user, now) is not None,
            )
        )
    return out


async def history(server: Server, conn: ClientConnection, msg: History) -> BulkReply:
    account = require_login(conn)
    key = conversation_key(server, account.name, msg.room)
    limit = max(1, min(msg.limit, server.config.history_page))
    rows = await server.store.history(key, max(0, msg.after), max(0, msg.before), limit)
    # Keep the reply inside one frame: stop adding messages near the frame limit.
    budget = server.config.max_frame - 4096
    messages: list[Message] = []
    for r in rows:
        budget -= len(r.text.encode()) + len(r.sender) + len(key) + 64
        if r.file is not None:
            budget -= len(r.file.name.encode()) + len(r.file.media_type) + 128
        if budget < 0 and messages:
            break
        messages.append(wire_message(r))
    last = await server.store.last_seq(key)
    return BulkReply(HistoryResult(room=key, messages=messages, last_seq=last))


def wire_message(r: StoredMessage) -> Message:
    """A stored message as the event clients receive."""
    return Message(
        room=r.room,
        seq=r.seq,
        sender=r.sender,
        text=r.text,
        ts=r.ts,
        priority=r.priority,
        file=file_info(r.file) if r.file is not None else None,
        kind=r.kind,
        ref=r.ref,
        reply_to=r.reply_to,
    )


def file_info(f: FileRecord) -> FileInfo:
    """What clients are told about a stored file."""
    return FileInfo(id=f.id, name=f.name, size=f.size, sha256=f.sha256, media_type=f.media_type)


def ping(server: Server, conn: ClientConnection, msg: Ping) -> dict[str, float]:
    return {"ts": time.time()}


_logouts: set[asyncio.Task[None]] = set()


def logout(server: Server, conn: ClientConnection, msg: Logout) -> object:
    if not conn.pending:
        require_login(conn)
    reply = conn.reply_later(msg)
    digests, conn.tokens = conn.tokens, b""
    loop = asyncio.get_running_loop()

    async def revoke() -> None:
        # The ok comes only once the tokens are gone: a client that then forgets
        # its token knows no copy of it still opens a session. A store that
        # fails answers the error and the session stays (nothing half done).
        try:
            for digest in split_digests(digests):
                await server.store.revoke_token(digest)
        except Exception as exc:
            conn.tokens = digests
            reply(None, exc)
            return
        reply(None, None)
        loop.call_soon(conn.close, "logout", "logged out")

    task = loop.create_task(revoke())
    _logouts.add(task)  # a reference, so the task lives until it is done
    task.add_done_callback(_logouts.discard)
    return LATER


HANDLERS: dict[type, Any] = {
    ClientHello: hello,
    Login: login,
    Resume: resume,
    Send: send,
    Join: join,
    Leave: leave,
    ListRooms: list_rooms,
    Who: who,
    History: history,
    Ping: ping,
    Logout: logout,
}

# History only reads: nothing a later request does depends on it.
CONCURRENT = frozenset({History})
