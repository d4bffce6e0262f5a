"""Account requests of the SDK: password, sessions, and the admins' account management."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from roost.client.moderation import _stamp
from roost.protocol.display import visible
from roost.protocol.messages import (
    PRIORITY_LABELS,
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

T = TypeVar("T")


class AccountsMixin:
    """Account requests, on top of the client's ``_call``."""

    password: str | None

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...

    async def change_password(self, old: str, new: str) -> ModResult:
        """Change this account's password (the old one must be right)."""
        result: ModResult = await self._call(ChangePassword(id=0, old=old, new=new), ModResult)
        self.password = new  # a reconnection logs in with the new one
        return result

    async def sessions(self) -> list[SessionInfo]:
        """This account's live sessions (on the node connected to) and stored tokens."""
        msg = ListSessions(id=0)
        result: list[SessionInfo] = await self._call(msg, list[SessionInfo])
        return result

    async def logout_all(self) -> ModResult:
        """Revoke every token of this account and end its other sessions; this one stays."""
        result: ModResult = await self._call(LogoutAll(id=0), ModResult)
        return result

    async def reset_password(self, user: str, password: str) -> ModResult:
        """Admins: set ``user``'s password; their tokens are revoked and sessions end."""
        msg = ResetPassword(id=0, user=user, password=password)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def users(self) -> list[UserInfo]:
        """Admins: every account with role, priority, status and when last seen."""
        result: list[UserInfo] = await self._call(ListUsers(id=0), list[UserInfo])
        return result

    async def disable(self, user: str, reason: str = "") -> ModResult:
        """Admins: the account cannot log in until enabled; its sessions end now."""
        msg = DisableAccount(id=0, user=user, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def enable(self, user: str) -> ModResult:
        result: ModResult = await self._call(EnableAccount(id=0, user=user), ModResult)
        return result

    async def delete_account(self, user: str, reason: str = "") -> ModResult:
        """Admins: delete an account; its messages stay, its name is not reused."""
        msg = DeleteAccount(id=0, user=user, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result


def _when(ts: float) -> str:
    return _stamp(ts) if ts else "never"


def user_text(u: UserInfo) -> str:
    """``ann   admin  normal  active   online``."""
    seen = "online" if u.online else f"last seen {_when(u.last_seen)}"
    level = PRIORITY_LABELS.get(u.priority, str(u.priority))
    return f"{visible(u.user):<20} {visible(u.role):<9} {level:<7} {visible(u.status):<9} {seen}"


def session_text(s: SessionInfo) -> str:
    if s.kind == "live":
        mark = " (this one)" if s.current else ""
        return f"live   since {_when(s.since)} from {visible(s.address)}{mark}"
    return f"token  {s.token}  since {_when(s.since)}, expires {_when(s.expires)}"
