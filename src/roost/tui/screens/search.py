"""Search results (/search): the newest matches first; Enter opens the conversation.

The last entry fetches the next, older page when there is one.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from roost.client.search import SearchArgs, hit_text
from roost.protocol.display import visible
from roost.protocol.errors import RoostError
from roost.protocol.messages import Message
from roost.tui.api import ChatApi

MORE = "\x00more"  # the option id of "older results"
PAGE = 50


class SearchScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    DEFAULT_CSS = """
    SearchScreen { align: center middle; }
    #search-results { width: 90%; max-height: 80%; border: round $primary; background: $surface; }
    #search-status { width: 90%; height: auto; }
    """

    def __init__(self, api: ChatApi, args: SearchArgs) -> None:
        super().__init__()
        self.api = api
        self.args = args
        self.hits: list[Message] = []
        self.next = ""

    def compose(self) -> ComposeResult:
        results = OptionList(id="search-results")
        results.border_title = f"Search: {visible(self.args.query)} (Enter opens, Esc closes)"
        yield results
        yield Static("searching…", id="search-status")

    def on_mount(self) -> None:
        self.run_worker(self._load(), exclusive=True)

    async def _load(self) -> None:
        status = self.query_one("#search-status", Static)
        a = self.args
        try:
            page = await self.api.session.client.search_page(
                a.query,
                room=a.room,
                sender=a.sender,
                since=a.since,
                until=a.until,
                limit=PAGE,
                cursor=self.next,
            )
        except RoostError as exc:
            status.update(Text(visible(exc.message), style="red"))
            return
        first = not self.hits
        self.hits += page.messages
        self.next = page.next
        me = self.api.session.me
        options = [Option(hit_text(m, me), id=str(i)) for i, m in enumerate(self.hits)]
        if self.next:
            options.append(Option(Text("… older results", style="dim"), id=MORE))
        results = self.query_one("#search-results", OptionList)
        keep = results.highlighted
        results.set_options(options)
        if self.hits:
            results.highlighted = 0 if first else keep
        status.update(
            f"{len(self.hits)} messages" + (", more older" if self.next else "")
            if self.hits
            else "no messages match"
        )
        results.focus()

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == MORE:
            self.run_worker(self._load(), exclusive=True)
            return
        if event.option.id is None:
            return
        hit = self.hits[int(event.option.id)]
        self.dismiss()
        if hit.room in self.api.session.model.conversations:
            self.api.switch_to(hit.room)
        else:
            self.api.show(f"{hit_text(hit, self.api.session.me)} (in a conversation not open here)")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
