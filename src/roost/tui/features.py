"""The built-in entries of the extension points (see roost.tui.extensions).

Later features (file transfers, moderation) follow the same pattern in their
own module, imported from here.
"""

from __future__ import annotations

from textual.widget import Widget

from roost.tui import files as _files  # noqa: F401 - registers /send and /get
from roost.tui.api import ChatApi
from roost.tui.extensions import EXTENSIONS, MemberAction, ScreenEntry, SidebarPanel
from roost.tui.screens.rooms import RoomsScreen
from roost.tui.session import ChatSession
from roost.tui.widgets.lists import ConversationList, MemberList


def _conversations(session: ChatSession) -> Widget:
    panel = ConversationList(id="conversations")
    panel.border_title = "Conversations"
    return panel


def _members(session: ChatSession) -> Widget:
    panel = MemberList(id="members")
    panel.border_title = "Members"
    return panel


async def _message_member(api: ChatApi, user: str) -> None:
    api.switch_to(await api.session.open_direct(user))


def _not_me(session: ChatSession, user: str) -> bool:
    return user != session.me


EXTENSIONS.add_panel(SidebarPanel("conversations", "Conversations", _conversations, order=10))
EXTENSIONS.add_panel(SidebarPanel("members", "Members", _members, order=20))
for _key in ("enter", "m"):
    EXTENSIONS.add_member_action(
        MemberAction(_key, "message", "open a direct conversation", _message_member, _not_me)
    )
EXTENSIONS.add_screen(ScreenEntry("f2", "rooms", "browse and join rooms", RoomsScreen))

# Later features register themselves on import.
import roost.tui.edits  # noqa: E402
import roost.tui.moderation  # noqa: E402
import roost.tui.rooms  # noqa: E402
import roost.tui.search  # noqa: E402, F401
