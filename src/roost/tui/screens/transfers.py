"""The transfers screen (F3): every upload and download of this session; C cancels one."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from roost.protocol.display import visible
from roost.tui.api import ChatApi
from roost.tui.session import Update
from roost.tui.transfers import Transfer, Transfers, bar, figures, transfers_of

_STATE_STYLE = {"running": "cyan", "done": "green", "failed": "red", "cancelled": "yellow"}
# Redraws at most this often while bytes move (progress comes per chunk).
REFRESH = 0.25


def transfer_label(t: Transfer, now: float) -> Text:
    arrow = "↑" if t.kind == "upload" else "↓"
    out = Text(f"{arrow} ", style="bold")
    out.append(visible(t.name)[:40], style="bold")
    out.append(f"  {t.state}", style=_STATE_STYLE.get(t.state, ""))
    if t.cancel_requested and t.state == "running":
        out.append(" (cancelling)", style="yellow")
    out.append("\n  ")
    out.append(bar(t.fraction), style=_STATE_STYLE.get(t.state, ""))
    out.append(f" {t.fraction:4.0%}  {figures(t, now)}")
    if t.detail:
        out.append(f"\n  {visible(t.detail)}", style="red" if t.state == "failed" else "dim")
    return out


class TransfersScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f3", "dismiss", "Close"),
        Binding("c,delete", "cancel_transfer", "Cancel transfer"),
    ]

    DEFAULT_CSS = """
    TransfersScreen { align: center middle; }
    #transfers { width: 76; max-height: 90%; border: round $primary; background: $surface; }
    #transfers-note { width: 76; height: auto; color: $text-muted; }
    """

    def __init__(self, api: ChatApi) -> None:
        super().__init__()
        self.api = api
        self.registry: Transfers = transfers_of(api.session)
        self._dirty = True
        self._unsubscribe: Any = None

    def compose(self) -> ComposeResult:
        listing = OptionList(id="transfers")
        listing.border_title = "Transfers (C cancels, Esc closes)"
        yield listing
        yield Static("", id="transfers-note")

    def on_mount(self) -> None:
        self._unsubscribe = self.api.session.subscribe(self._session_update)
        self.redraw()
        self.query_one(OptionList).focus()
        self.set_interval(REFRESH, self._tick)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _session_update(self, update: Update) -> None:
        if update.kind == "transfers":
            self._dirty = True

    def _tick(self) -> None:
        # Running transfers change rate and time left even without new bytes.
        if self._dirty or any(t.state == "running" for t in self.registry.items):
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        listing = self.query_one(OptionList)
        now = self.registry.clock()
        # Newest first: what was just started is what the user came to see.
        items = list(reversed(self.registry.items))
        highlighted = listing.highlighted
        listing.set_options([Option(transfer_label(t, now), id=str(t.id)) for t in items])
        if items:
            listing.highlighted = min(highlighted or 0, len(items) - 1)
        note = "" if items else "no transfers yet; /send PATH uploads, /save ID downloads"
        self.query_one("#transfers-note", Static).update(note)

    def selected(self) -> Transfer | None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return None
        option = listing.get_option_at_index(listing.highlighted)
        return self.registry.get(int(option.id or 0))

    def action_cancel_transfer(self) -> None:
        t = self.selected()
        if t is None or not self.registry.cancel(t.id):
            self.app.bell()
            return
        self.redraw()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
