"""The room browser (F2): every room on the server; Enter joins or opens one."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from roost.protocol.display import visible
from roost.protocol.errors import RoostError
from roost.protocol.messages import RoomInfo
from roost.tui.api import ChatApi


def room_label(info: RoomInfo) -> Text:
    out = Text("✓ " if info.joined else "  ", style="green")
    out.append(f"#{visible(info.name)}", style="bold" if info.joined else "")
    out.append(f"  {info.members} members, {info.online} online", style="dim")
    return out


class RoomsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    DEFAULT_CSS = """
    RoomsScreen { align: center middle; }
    #rooms { width: 60; max-height: 80%; border: round $primary; background: $surface; }
    #rooms-error { width: 60; color: $error; height: auto; }
    """

    def __init__(self, api: ChatApi) -> None:
        super().__init__()
        self.api = api

    def compose(self) -> ComposeResult:
        rooms = OptionList(id="rooms")
        rooms.border_title = "Rooms (Enter joins, Esc closes)"
        yield rooms
        yield Static("", id="rooms-error")

    def on_mount(self) -> None:
        self.run_worker(self._load(), exclusive=True)

    async def _load(self) -> None:
        listing = self.query_one("#rooms", OptionList)
        try:
            infos = await self.api.session.rooms()
        except RoostError as exc:
            self.query_one("#rooms-error", Static).update(exc.message)
            return
        listing.set_options([Option(room_label(r), id=r.name) for r in infos])
        listing.highlighted = 0 if infos else None
        if not infos:
            self.query_one("#rooms-error", Static).update("no rooms yet; /join NAME creates one")
        listing.focus()

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name is None:
            return
        self.dismiss()
        if name in self.api.session.model.conversations:
            self.api.switch_to(name)
            return

        async def join() -> None:
            self.api.switch_to(await self.api.session.join(name))

        self.api.background(join())

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
