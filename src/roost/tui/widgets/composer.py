"""The input line: Enter sends, ctrl+j (or shift/alt+enter) adds a line, Tab completes,
Up on the first line recalls earlier input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from roost.tui.completion import Completion

# Input lines kept for recall with Up.
HISTORY_SIZE = 100
NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter")


class Composer(TextArea):
    """A TextArea that sends on Enter; it grows up to a few lines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j,shift+enter,alt+enter", "newline", "New line", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """The user pressed Enter on non-empty input."""

        composer: Composer
        text: str

    @dataclass
    class Candidates(Message):
        """Completion found several candidates (empty: clear the hint)."""

        composer: Composer
        candidates: tuple[str, ...]

    @dataclass
    class PageRequest(Message):
        """PageUp/PageDown: scroll the message view, not the input."""

        composer: Composer
        direction: int

    def __init__(
        self,
        completer: Callable[[str], Completion | None] | None = None,
        *,
        id: str | None = None,
        placeholder: str = "",
    ) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            highlight_cursor_line=False,
            id=id,
            placeholder=placeholder,
        )
        self.completer = completer
        self.sent: list[str] = []  # earlier input, oldest first
        self._recall: int | None = None  # index into sent while recalling
        self._draft = ""  # what was typed before recall started
        self._cycle: tuple[Completion, int] | None = None  # completion being cycled
        self._hinting = False  # candidates are on show

    async def _on_key(self, event: events.Key) -> None:
        if event.key != "tab":
            self._cycle = None
            if self._hinting:
                self._hinting = False
                self.post_message(self.Candidates(self, ()))
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if event.key == "tab" and self.completer is not None:
            event.stop()
            event.prevent_default()
            self.complete()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        if not self.sent or self.sent[-1] != text:
            self.sent.append(text)
            del self.sent[:-HISTORY_SIZE]
        self._recall = None
        self.clear()
        self.post_message(self.Candidates(self, ()))
        self.post_message(self.Submitted(self, text))

    # --- recall -------------------------------------------------------------------------

    def action_cursor_up(self, select: bool = False) -> None:
        if select or self.cursor_location[0] > 0 or not self.sent:
            super().action_cursor_up(select)
            return
        if self._recall is None:
            self._draft = self.text
            self._recall = len(self.sent)
        if self._recall > 0:
            self._recall -= 1
            self._show(self.sent[self._recall])

    def action_cursor_down(self, select: bool = False) -> None:
        last_row = self.document.line_count - 1
        if select or self._recall is None or self.cursor_location[0] < last_row:
            super().action_cursor_down(select)
            return
        self._recall += 1
        if self._recall >= len(self.sent):
            self._recall = None
            self._show(self._draft)
        else:
            self._show(self.sent[self._recall])

    def _show(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    # --- completion ----------------------------------------------------------------------

    def complete(self) -> None:
        """Complete the word before the cursor; repeated Tab cycles through candidates."""
        if self.completer is None:
            return
        row, col = self.cursor_location
        before = self.document.get_text_range((0, 0), (row, col))
        if self._cycle is not None:
            found, index = self._cycle
            index = (index + 1) % len(found.candidates)
            self._apply(found, found.candidates[index])
            self._cycle = (found, index)
            return
        found_or_none = self.completer(before)
        if found_or_none is None:
            self.app.bell()
            return
        found = found_or_none
        typed = before[found.start : found.end]
        if len(found.candidates) == 1:
            self._apply(found, found.candidates[0])
            self.post_message(self.Candidates(self, ()))
            return
        self.post_message(self.Candidates(self, found.candidates))
        self._hinting = True
        common = found.common
        if len(common) > len(typed):
            self._apply(found, common)
        else:
            self._apply(found, found.candidates[0])
            self._cycle = (found, 0)

    def _apply(self, found: Completion, replacement: str) -> None:
        """Replace the word being completed (which starts at found.start) with ``replacement``."""
        row, col = self.cursor_location
        before = self.document.get_text_range((0, 0), (row, col))
        # The word never spans lines, so its start is on the cursor's row.
        start_col = col - (len(before) - found.start)
        self.replace(replacement, (row, start_col), (row, col))

    def action_cursor_page_up(self) -> None:
        self.post_message(self.PageRequest(self, -1))

    def action_cursor_page_down(self) -> None:
        self.post_message(self.PageRequest(self, 1))
