"""The status line: connection state, who and where, and the conversation on screen."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from roost.protocol.display import visible

STATE_MARKS = {
    "connected": ("●", "green"),
    "reconnecting": ("◌", "yellow"),
    "closed": ("✖", "red"),
}


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    StatusLine.-reconnecting { background: $warning 40%; }
    StatusLine.-closed { background: $error 50%; }
    """

    state: reactive[str] = reactive("connected")
    detail: reactive[str] = reactive("")
    where: reactive[str] = reactive("")

    def __init__(self, who: str, **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.who = who

    def render(self) -> Text:
        mark, colour = STATE_MARKS.get(self.state, ("?", "white"))
        out = Text()
        out.append(f"{mark} ", style=f"bold {colour}")
        # The detail may carry a reason the server gave.
        out.append(visible(self.detail or self.state))
        out.append(f"  {visible(self.who)}", style="bold")
        if self.where:
            out.append(f"  {visible(self.where)}", style="dim")
        return out

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")
