"""The admission queue (F4, moderators): newcomers waiting to be admitted.

A admits, P admits at a chosen priority, R refuses, B blocks (the last three
after a confirmation). The list is read again whenever a moderation event
arrives (a newcomer, or another moderator acting).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from roost.client.moderation import result_text
from roost.protocol.display import visible
from roost.protocol.errors import RoostError
from roost.protocol.messages import PendingUser
from roost.tui.api import ChatApi
from roost.tui.screens.confirm import ConfirmScreen
from roost.tui.session import Update


def pending_label(p: PendingUser) -> Text:
    out = Text(f"{visible(p.user):<20}", style="bold")
    out.append(f" since {time.strftime('%Y-%m-%d %H:%M', time.localtime(p.since))}")
    where = f"  online from {visible(p.address)}" if p.online else "  offline"
    out.append(where, style="dim" if not p.online else "green")
    return out


class PendingScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f4", "dismiss", "Close"),
        Binding("a", "act('admit')", "Admit"),
        Binding("p", "act('priority')", "Admit at priority"),
        Binding("r", "act('refuse')", "Refuse"),
        Binding("b", "act('block')", "Block"),
    ]

    DEFAULT_CSS = """
    PendingScreen { align: center middle; }
    #pending { width: 76; max-height: 80%; border: round $primary; background: $surface; }
    #pending-note { width: 76; height: auto; color: $text-muted; }
    """

    def __init__(self, api: ChatApi) -> None:
        super().__init__()
        self.api = api
        self.users: list[PendingUser] = []
        self._unsubscribe: Any = None
        self._asked = 0

    def compose(self) -> ComposeResult:
        listing = OptionList(id="pending")
        listing.border_title = "Waiting for admission (A admit, P priority, R refuse, B block)"
        yield listing
        yield Static("", id="pending-note")

    def on_mount(self) -> None:
        self._unsubscribe = self.api.session.subscribe(self._session_update)
        self.reload()
        self.query_one(OptionList).focus()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _session_update(self, update: Update) -> None:
        if update.kind == "moderation":
            self.reload()

    def reload(self) -> None:
        self._asked += 1
        self.run_worker(self._load(self._asked), group="pending")

    async def _load(self, asked: int) -> None:
        note = self.query_one("#pending-note", Static)
        try:
            users = await self.api.session.client.pending()
        except RoostError as exc:
            note.update(exc.message)
            return
        if asked != self._asked:
            return  # a later reload is on its way; its answer is the newer one
        listing = self.query_one(OptionList)
        highlighted = listing.highlighted
        self.users = sorted(users, key=lambda p: p.since)
        listing.set_options([Option(pending_label(p), id=p.user) for p in self.users])
        if self.users:
            listing.highlighted = min(highlighted or 0, len(self.users) - 1)
        note.update("" if self.users else "nobody is waiting")

    def selected(self) -> str | None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None or not self.users:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    def action_act(self, what: str) -> None:
        user = self.selected()
        if user is None:
            self.app.bell()
            return
        self.api.background(self._act(what, user))

    async def _act(self, what: str, user: str) -> None:
        client = self.api.session.client
        if what == "admit":
            result = await client.admit(user)
        else:
            question, verb = {
                "priority": (f"Admit {user} at which priority?", "Admit"),
                "refuse": (f"Refuse {user}? The account is removed.", "Refuse"),
                "block": (f"Block {user}?", "Block"),
            }[what]
            answer = await self.api.ask(
                ConfirmScreen(
                    question,
                    verb=verb,
                    reason=what != "priority",
                    duration=what == "block",
                    level=what == "priority",
                )
            )
            if answer is None:
                return
            if what == "priority":
                result = await client.admit(user, answer.level)
            elif what == "refuse":
                result = await client.refuse(user, answer.reason)
            else:
                result = await client.block(user, answer.duration, answer.reason)
        self.api.show(result_text(result))
        self.reload()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
