"""What a node caches, kept in step with the other nodes of a cluster.

A node acts on a change at once in its own memory and stores it; then it
announces it on the bus (:func:`announce`), and every other node re-reads
that thing from the store and acts on it (:func:`apply`): a block or a kick
ends the user's sessions there too, a new room or membership shows up, a role
or priority change reaches the cached account. With one process the bus
carries no changes and none of this runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from roost.bus.base import Change
from roost.protocol.errors import ErrorCode
from roost.server.account_status import DELETED, DISABLED
from roost.server.admission import PENDING
from roost.server.audit import is_staff
from roost.server.sanctions import BLOCK, Sanctions, covers, terms
from roost.server.state import Room
from roost.store.base import Account, RoomRecord

if TYPE_CHECKING:
    from roost.server.app import Server

log = logging.getLogger("roost.server")

ACCOUNT = "account"  # key: user name
ROOM = "room"  # key: room name (the room, its members)
SANCTIONS = "sanctions"  # key: kind (blocks, mutes, bans are re-read together)
KICK = "kick"  # key: user name, detail: what the user is told
SPENT = "spent"  # key: user name, detail: "messages bytes" sent through the announcing node
AWAY = "away"  # key: user name, detail: "+" and the reason (away), or "-" (back, or offline)
READ_TRIES = 5  # re-reads of a room while requests here keep changing it


def announce(server: Server, topic: str, key: str, detail: str = "") -> None:
    """Tell the other nodes that ``topic``/``key`` changed (this node has acted on it)."""
    server.bus.announce(Change(topic, key, detail))


class Changes:
    """Applies other nodes' changes in the order they came (the bus awaits each)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._tasks: set[asyncio.Task[None]] = set()

    async def received(self, change: Change) -> None:
        """Bus handler: re-read and act; a failure is logged (the store may be away)."""
        if change.topic == KICK:
            # Nothing to read: the sessions end in this loop turn.
            from roost.server.moderation import end_sessions

            end_sessions(self.server, change.key, "kicked", change.detail)
            return
        if change.topic == SPENT:
            self.server.protection.spent_elsewhere(change.key, change.detail)
            return
        if change.topic == AWAY:
            self.server.activity.away_elsewhere(change.key, change.detail)
            return
        try:
            await apply(self.server, change)
        except Exception as exc:
            log.warning(
                "could not apply %s %s from another node: %s", change.topic, change.key, exc
            )

    def missed(self) -> None:
        """The bus may have lost changes (Redis was away): re-read everything cached."""
        task = asyncio.create_task(self._reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload(self) -> None:
        server = self.server
        try:
            await _sanctions(server)
            # Rooms renamed while the bus was away first (load_rooms lists only
            # live rooms: this node would hold the room under both names).
            for old in await server.store.room_renames():
                if old in server.state.rooms:
                    await _room(server, old)
            for rec in await server.store.load_rooms():
                await _room(server, rec.name, rec)
            for account in await server.store.list_accounts():
                await _account(server, account.name, account)
        except Exception as exc:
            log.warning("could not re-read the shared state after a bus outage: %s", exc)


async def apply(server: Server, change: Change) -> None:
    """Re-read what ``change`` names from the store and act on it here."""
    if change.topic == ACCOUNT:
        await _account(server, change.key)
    elif change.topic == ROOM:
        await _room(server, change.key)
    elif change.topic == SANCTIONS:
        await _sanctions(server)


async def _account(server: Server, name: str, known: Account | None = None) -> None:
    from roost.server.moderation import end_sessions, let_in

    fresh = known or await server.store.get_account(name)
    cached = server.accounts.get(name)
    if fresh is None:
        server.accounts.pop(name, None)
        # Refused while waiting here, or deleted: its connections here end too.
        end_sessions(server, name, "refused", "your account was removed by a moderator")
        return
    if cached is None:
        server.accounts[name] = fresh
        cached = fresh
    else:
        # The cached object is shared by the user's sessions: change it in place.
        cached.password_hash = fresh.password_hash
        cached.role = fresh.role
        cached.priority = fresh.priority
        cached.status = fresh.status
    if cached.status in (DISABLED, DELETED):
        # Disabled or deleted on another node: its sessions here end too.
        text = (
            "your account is disabled" if cached.status == DISABLED else "your account was deleted"
        )
        end_sessions(server, name, cached.status, text)
        return
    if cached.status != PENDING:
        # Admitted on another node while waiting in this node's lobby.
        for conn in server.lobby.of(name):
            await let_in(server, conn, cached, "a moderator")


async def _room(server: Server, name: str, known: RoomRecord | None = None) -> None:
    rec = known or await _read_room(server, name)
    state = server.state
    if rec is None:
        return
    room = state.rooms.get(name)
    if rec.renamed_to:
        # Renamed on another node (its members were told from there): the room,
        # its sessions and this node's watermark take the new name.
        if room is not None and name not in state.renaming:
            move_room(server, room, rec.renamed_to)
        else:
            state.note_renamed(name, rec.renamed_to)
        await _room(server, rec.renamed_to)
        return
    if rec.deleted:
        # Deleted on another node (its members were told from there).
        if room is not None:
            for user in list(room.members):
                state.remove_member(room, user)
            state.rooms.pop(name, None)
        return
    if room is None:
        room = Room(name)
        state.rooms[name] = room
    room.take(rec)
    for user in rec.members - room.members:
        state.add_member(room, user)
    for user in room.members - rec.members:
        state.remove_member(room, user)


def move_room(server: Server, room: Room, new: str) -> None:
    """Give ``room`` the name ``new`` on this node, all in one loop turn: its
    state and sessions, the delivery watermark and the uploads under way to it."""
    old = room.name
    server.state.rename(room, new)
    server.ordering.rename(old, new)
    server.files.room_renamed(old, new)


async def _read_room(server: Server, name: str) -> RoomRecord | None:
    """The store's record of room ``name``, read while no request of this node
    touches the room: a join here whose row was not committed when the read
    began must not be undone by applying that read (the member would be
    dropped from the room on this node, and miss its messages)."""
    state = server.state
    rec = None
    for _ in range(READ_TRIES):
        await state.settled(name)
        state.rereads[name] = False
        try:
            rec = await server.store.get_room(name)
        finally:
            touched = state.rereads.pop(name, False)
        if not touched:
            break
    return rec


async def _sanctions(server: Server) -> None:
    fresh = Sanctions()
    fresh.load(await server.store.list_sanctions())
    server.sanctions.blocks = fresh.blocks
    server.sanctions.mutes = fresh.mutes
    server.sanctions.bans = fresh.bans
    now = time.time()
    from roost.server.moderation import end_sessions

    for user in [*server.state.online, *server.lobby.waiting]:
        s = server.sanctions.block_of(user, now)
        if s is not None and s.kind == BLOCK:
            end_sessions(server, user, str(ErrorCode.BLOCKED), f"you are blocked {terms(s)}")
    for net, s in list(server.sanctions.bans.values()):
        if not s.expires or s.expires > now:
            for conn in [c for c in server.connections if not is_staff(c.account)]:
                if not conn.closing and covers(net, conn.address):
                    conn.close(str(ErrorCode.BANNED), f"your address is banned {terms(s)}")
