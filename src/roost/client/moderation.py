"""Moderation calls of the SDK (a mixin of :class:`roost.client.Client`) and admission waiting.

Every call needs a moderator or admin account (priority and role changes: an
admin); the server refuses others with the error code ``forbidden``.
Durations are seconds, ``None`` or 0 meaning until lifted.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.display import visible
from roost.protocol.durations import format_until
from roost.protocol.errors import RoostError
from roost.protocol.messages import (
    PRIORITY_LABELS,
    Admit,
    Audit,
    AuditEntry,
    BanAddress,
    Block,
    Kick,
    ListBlocks,
    ListPending,
    LoginResult,
    ModResult,
    Mute,
    PendingUser,
    Refuse,
    Reload,
    ReloadResult,
    SanctionInfo,
    SetPriority,
    SetRole,
    Stats,
    StatSample,
    UnbanAddress,
    Unblock,
    Unmute,
)

T = TypeVar("T")


class ModerationMixin:
    """Moderation requests and the admission lobby, on top of the client's ``_call``."""

    session: LoginResult | None
    _admission: asyncio.Future[LoginResult] | None = None

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...

    async def block(self, user: str, duration: float | None = None, reason: str = "") -> ModResult:
        """Block an account: its sessions end at once and it cannot log in until unblocked."""
        msg = Block(id=0, user=user, duration=duration or 0.0, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def unblock(self, user: str) -> ModResult:
        result: ModResult = await self._call(Unblock(id=0, user=user), ModResult)
        return result

    async def kick(self, user: str, reason: str = "") -> ModResult:
        """End every session of a user now (they may log in again)."""
        result: ModResult = await self._call(Kick(id=0, user=user, reason=reason), ModResult)
        return result

    async def mute(self, user: str, duration: float | None = None, reason: str = "") -> ModResult:
        msg = Mute(id=0, user=user, duration=duration or 0.0, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def unmute(self, user: str) -> ModResult:
        result: ModResult = await self._call(Unmute(id=0, user=user), ModResult)
        return result

    async def set_priority(self, user: str, level: int) -> ModResult:
        """Set an account's priority level, 0 (urgent) to 3 (low); admins only."""
        result: ModResult = await self._call(SetPriority(id=0, user=user, level=level), ModResult)
        return result

    async def set_role(self, user: str, role: str) -> ModResult:
        """Make an account an admin, moderator or member; admins only."""
        result: ModResult = await self._call(SetRole(id=0, user=user, role=role), ModResult)
        return result

    async def ban_address(
        self, address: str, duration: float | None = None, reason: str = ""
    ) -> ModResult:
        """Ban an address or CIDR network: it cannot connect or register."""
        msg = BanAddress(id=0, address=address, duration=duration or 0.0, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def unban_address(self, address: str) -> ModResult:
        result: ModResult = await self._call(UnbanAddress(id=0, address=address), ModResult)
        return result

    async def blocks(self) -> list[SanctionInfo]:
        """Blocks, mutes and bans in force."""
        result: list[SanctionInfo] = await self._call(ListBlocks(id=0), list[SanctionInfo])
        return result

    async def pending(self) -> list[PendingUser]:
        """Accounts waiting for admission."""
        result: list[PendingUser] = await self._call(ListPending(id=0), list[PendingUser])
        return result

    async def admit(self, user: str, priority: int | None = None) -> ModResult:
        result: ModResult = await self._call(Admit(id=0, user=user, priority=priority), ModResult)
        return result

    async def refuse(self, user: str, reason: str = "") -> ModResult:
        """Refuse a waiting newcomer: the account is removed and its connection closed."""
        result: ModResult = await self._call(Refuse(id=0, user=user, reason=reason), ModResult)
        return result

    async def audit(self, limit: int = 100, target: str = "", before: int = 0) -> list[AuditEntry]:
        """The newest ``limit`` audit entries (about ``target`` only, if given), oldest first."""
        msg = Audit(id=0, limit=limit, target=target, before=before)
        result: list[AuditEntry] = await self._call(msg, list[AuditEntry])
        return result

    # --- operating the server -----------------------------------------------------------

    async def reload_config(self) -> ReloadResult:
        """Make the server reread its config file (admins only); refused if it has an error."""
        result: ReloadResult = await self._call(Reload(id=0), ReloadResult)
        return result

    async def stats(self) -> list[StatSample]:
        """The server's metrics, one sample per metric and label set (docs/operations.md)."""
        result: list[StatSample] = await self._call(Stats(id=0), list[StatSample])
        return result

    # --- the admission lobby ---------------------------------------------------------------

    @property
    def pending_admission(self) -> bool:
        """True while this account waits for a moderator to admit it."""
        return self.session is not None and self.session.status == "pending"

    async def wait_admitted(self, timeout: float | None = None) -> LoginResult:
        """Wait until a moderator admits this account; the new session's login result.

        Raises RoostError (code ``refused`` or ``blocked``) if the newcomer is
        turned away, and TimeoutError after ``timeout`` seconds.
        """
        if not self.pending_admission:
            assert self.session is not None
            return self.session
        if self._admission is None:
            self._admission = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(asyncio.shield(self._admission), timeout)

    def _admission_ended(self, session: LoginResult | None, error: RoostError | None) -> None:
        if not self.pending_admission and session is None:
            return
        fut = self._admission
        if fut is None:
            # Nobody waits yet: keep the outcome for a later wait_admitted().
            fut = self._admission = asyncio.get_running_loop().create_future()
        if fut.done():
            return
        if session is not None:
            fut.set_result(session)
        elif error is not None:
            fut.set_exception(error)
            fut.exception()  # nobody may be waiting; do not warn about it


# --- one line of text per result, for command-line and chat clients ----------------------


def result_text(result: ModResult) -> str:
    """What an action did: ``block: mallory until 2025-06-01 12:00:00 UTC: spam``."""
    text = f"{result.action}: {visible(result.target)}"
    if result.room:
        text += f" in #{visible(result.room)}"
    if result.action in ("block", "mute", "ban", "room_mute"):
        text += f" {format_until(result.expires)}"
    if result.priority is not None and result.action in ("priority", "admit"):
        text += f" at {PRIORITY_LABELS.get(result.priority, result.priority)} priority"
    if result.role:
        text += f" as {visible(result.role)}"
    if result.sessions:
        text += f" ({result.sessions} connection(s) ended)"
    if result.reason:
        text += f": {visible(result.reason)}"
    return text


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def sanction_text(s: SanctionInfo) -> str:
    line = f"{visible(s.kind):<5} {visible(s.target):<20} {format_until(s.expires)}, by {visible(s.author)}"
    return f"{line}: {visible(s.reason)}" if s.reason else line


def pending_text(p: PendingUser) -> str:
    where = f"online from {visible(p.address)}" if p.online else "offline"
    return f"{visible(p.user):<20} waiting since {_stamp(p.since)} ({where})"


def audit_text(e: AuditEntry) -> str:
    return f"{_stamp(e.ts)} #{e.id} {visible(e.text)}"
