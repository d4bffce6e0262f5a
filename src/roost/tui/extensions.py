"""Extension points of the chat screen, filled by the core and by later features.

- :class:`SidebarPanel`: a widget stacked in the left sidebar (the conversation
  and member lists are panels; a transfers panel adds itself the same way).
- :class:`MemberAction`: a key pressed on the member list acts on the highlighted
  user (direct message here; block, kick and mute in the moderation feature).
- :class:`ScreenEntry`: a key that opens a screen over the chat (the room
  browser here; the pending-admission list later).
- commands: :data:`roost.tui.commands.COMMANDS`; event types:
  :meth:`roost.tui.session.ChatSession.on` from an ``on_session`` hook.

A feature module builds its entries and calls :meth:`Extensions.add_*` on
:data:`EXTENSIONS` when imported; ``roost.tui.features`` imports the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.tui.api import ChatApi
from roost.tui.commands import COMMANDS, CommandRegistry
from roost.tui.session import ChatSession

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widget import Widget


@dataclass(frozen=True)
class SidebarPanel:
    id: str
    title: str
    factory: Callable[[ChatSession], Widget]
    order: int = 100  # lower is higher up


@dataclass(frozen=True)
class MemberAction:
    key: str  # pressed while the member list has focus
    name: str
    description: str
    run: Callable[[ChatApi, str], Coroutine[Any, Any, None]]  # (screen, user name)
    # Whether the action is offered for this user (e.g. only moderators may kick).
    available: Callable[[ChatSession, str], bool] = lambda session, user: True


@dataclass(frozen=True)
class ScreenEntry:
    key: str  # an app-wide key, e.g. "f2"
    name: str
    description: str
    open: Callable[[ChatApi], Screen[Any]]
    # Whether the key is offered in this session (e.g. only to moderators).
    available: Callable[[ChatSession], bool] = lambda session: True


SessionHook = Callable[[ChatSession], None]


@dataclass
class Extensions:
    panels: list[SidebarPanel] = field(default_factory=list)
    member_actions: list[MemberAction] = field(default_factory=list)
    screens: list[ScreenEntry] = field(default_factory=list)
    session_hooks: list[SessionHook] = field(default_factory=list)
    commands: CommandRegistry = COMMANDS

    def add_panel(self, panel: SidebarPanel) -> None:
        self.panels = sorted(
            [p for p in self.panels if p.id != panel.id] + [panel], key=lambda p: p.order
        )

    def add_member_action(self, action: MemberAction) -> None:
        self.member_actions = [a for a in self.member_actions if a.key != action.key] + [action]

    def add_screen(self, entry: ScreenEntry) -> None:
        # In key order (F2, F3, F4...) in the footer and the help, whoever registers first.
        self.screens = sorted(
            [s for s in self.screens if s.key != entry.key] + [entry],
            key=lambda s: (len(s.key), s.key),
        )

    def on_session(self, hook: SessionHook) -> None:
        """Call ``hook`` with each new session (to register event handlers with ``on``)."""
        self.session_hooks.append(hook)

    def install(self, session: ChatSession) -> None:
        for hook in self.session_hooks:
            hook(session)

    def member_action(self, key: str) -> MemberAction | None:
        return next((a for a in self.member_actions if a.key == key), None)


EXTENSIONS = Extensions()
