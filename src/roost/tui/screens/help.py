"""Keyboard help (``?`` or F1): keys, member-list keys, extension screens and commands."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from roost.tui.extensions import EXTENSIONS

KEYS = (
    ("Enter", "send the message or run the /command"),
    ("Ctrl+J", "new line (also Shift+Enter where the terminal tells it apart)"),
    ("Tab", "complete a /command, room or user; again: next candidate"),
    ("Up / Down", "recall earlier input (from the first / last line)"),
    ("PageUp / PageDown", "scroll the messages; at the top older ones load"),
    ("Ctrl+N / Ctrl+P", "next / previous conversation (also Alt+Down / Alt+Up)"),
    ("Shift+Tab / Esc", "focus the lists / back to the input"),
    ("? or F1", "this help (? when the input is not focused)"),
    ("Ctrl+Q", "quit"),
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    for entry in EXTENSIONS.screens:
        table.add_row(entry.key.upper() if len(entry.key) <= 3 else entry.key, entry.description)
    table.add_row("", "")
    table.add_row(Text("Member list", style="bold"), "")
    by_name: dict[str, list[str]] = {}
    for action in EXTENSIONS.member_actions:
        by_name.setdefault(action.description, []).append(action.key.capitalize())
    for description, keys in by_name.items():
        table.add_row(", ".join(keys), description)
    table.add_row("", "")
    table.add_row(Text("Commands", style="bold"), "")
    for command in EXTENSIONS.commands:
        aliases = ", ".join(f"/{a}" for a in command.aliases)
        table.add_row(command.usage, command.help + (f" (also {aliases})" if aliases else ""))
    table.add_row("//text", "send text that starts with /")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "Close")
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 100%; max-width: 100; height: 100%; border: round $primary;
            background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "Keys and commands"
            box.border_subtitle = "↑↓ PgUp PgDn scroll · Esc closes"
            yield Static(help_table())

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
