"""The message view of one conversation: messages by seq, local info lines, scroll-back."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from rich.table import Table
from textual.containers import VerticalScroll
from textual.message import Message as TextualMessage
from textual.widget import Widget
from textual.widgets import Static

from roost.client.edits import MessageBook
from roost.protocol.messages import URGENT, Message
from roost.tui.render import TimeFormat, info_text, local_time, message_text


class MessageLine(Static):
    """One chat message."""

    def __init__(self, message: Message, text: Table) -> None:
        classes = "message urgent" if message.priority == URGENT else "message"
        super().__init__(text, classes=classes)
        self.message = message


class InfoLine(Static):
    """A local line: command output, joins and leaves, errors. Never sent."""

    def __init__(self, text: str, level: str = "info") -> None:
        super().__init__(info_text(text, level), classes=f"info {level}")
        self.text = text


class MessageView(VerticalScroll):
    """Shows a conversation; asks for older history when scrolled to the top."""

    DEFAULT_CSS = """
    MessageView { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    MessageView > Static { width: 1fr; height: auto; }
    MessageView > .urgent { background: $error 20%; }
    MessageView > .history-start { color: $text-muted; text-style: italic; }
    """

    @dataclass
    class NeedOlder(TextualMessage):
        """Scrolled to the top with older history still on the server."""

        view: MessageView

    def __init__(
        self,
        key: str,
        me: str,
        time_format: TimeFormat = local_time,
        book: MessageBook | None = None,
        **kw: str,
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.key = key
        self.me = me
        self.time_format = time_format
        # Edits, removals and reactions folded into each message; they are no lines of their own.
        self.book = book
        self.shown: list[int] = []  # seqs on screen, ascending
        self._lines: dict[int, MessageLine] = {}
        self.loading_older = False
        self.complete = False  # the whole history is shown; no more requests
        self._start_marker: Static | None = None
        self._early: list[Message] = []  # given before the view was mounted

    def on_mount(self) -> None:
        self.anchor()
        early, self._early = self._early, []
        if early:
            self.add_messages(early)

    def add_messages(self, messages: list[Message] | tuple[Message, ...]) -> None:
        """Insert messages in seq order (live ones at the end, older ones above)."""
        if not self.is_mounted:
            self._early.extend(messages)
            return
        before_top = bool(self.shown) and any(m.seq < self.shown[0] for m in messages)
        old_height = self.virtual_size.height
        old_y = self.scroll_y
        runs: dict[int | None, list[MessageLine]] = {}
        for m in sorted(messages, key=lambda m: m.seq):
            if m.seq in self._lines or m.kind != "text":
                continue
            index = bisect.bisect(self.shown, m.seq)
            anchor = self.shown[index] if index < len(self.shown) else None
            line = MessageLine(m, self._drawn(m))
            runs.setdefault(anchor, []).append(line)
            self._lines[m.seq] = line
            self.shown.insert(index, m.seq)
        for anchor, lines in runs.items():
            if anchor is None:
                self.mount_all(lines)
            else:
                self.mount_all(lines, before=self._lines[anchor])
        if before_top and not self.following:
            # Older lines went in above what the user reads: keep it in place.
            self.call_after_refresh(self._keep_position, old_height, old_y)
        self.call_after_refresh(self.check_older)

    def _drawn(self, m: Message) -> Table:
        if self.book is None:
            return message_text(m, self.me, self.time_format)
        quote = self.book.quote(m.room, m.reply_to) if m.reply_to else ""
        return message_text(m, self.me, self.time_format, self.book.get(m.room, m.seq), quote)

    def refresh_message(self, seq: int) -> bool:
        """Draw message ``seq`` again (edited, removed, reacted to); False if not shown.

        The replies on screen that quote it are drawn again too (an edit changes
        their quote).
        """
        for reply in self._lines.values():
            if reply.message.reply_to == seq:
                reply.update(self._drawn(reply.message))
        line = self._lines.get(seq)
        if line is None:
            return False
        line.update(self._drawn(line.message))
        return True

    @property
    def following(self) -> bool:
        """Pinned to the newest message (the user has not scrolled away)."""
        return self.is_anchored and not self._anchor_released

    def _keep_position(self, old_height: int, old_y: float) -> None:
        grown = self.virtual_size.height - old_height
        self.scroll_to(y=old_y + grown, animate=False, immediate=True)

    def add_info(self, text: str, level: str = "info") -> InfoLine:
        line = InfoLine(text, level)
        self.mount(line)
        return line

    def add_widget(self, widget: Widget) -> None:
        """An extension's item (a file offer, say), appended after the latest message."""
        self.mount(widget)

    def set_complete(self) -> None:
        """Nothing older exists: say so at the top instead of asking again."""
        self.complete = True
        if self._start_marker is None:
            self._start_marker = Static("— start of the conversation —", classes="history-start")
            first = self.children[0] if self.children else None
            self.mount(self._start_marker, before=first)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 and old_value > 0:
            self.check_older()

    def check_older(self) -> None:
        if self.complete or self.loading_older or not self.shown or not self.display:
            return
        if self.scroll_y <= 0 and (self.max_scroll_y == 0 or not self.following):
            self.loading_older = True
            self.post_message(self.NeedOlder(self))
