"""A confirmation dialog for moderation: optional reason, duration or priority level.

Enter (or the Confirm button) confirms; Escape (or Cancel) dismisses it with
None and nothing is done. Bad input (a duration that is not one) is said in
the dialog, which stays open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from roost.protocol.durations import parse_duration
from roost.protocol.errors import RoostError
from roost.protocol.names import check_priority


@dataclass(frozen=True)
class Confirmed:
    reason: str = ""
    duration: float = 0.0  # seconds; 0 is until lifted
    level: int | None = None  # a priority level (admit with priority)


class ConfirmScreen(ModalScreen[Confirmed | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    #confirm { width: 60; height: auto; border: thick $warning; background: $surface;
               padding: 0 1; }
    #confirm Input { margin: 0; }
    #confirm-question { text-style: bold; margin-bottom: 1; }
    #confirm-error { color: $error; height: auto; }
    #confirm-buttons { height: auto; align: right middle; margin-top: 1; }
    #confirm-buttons Button { margin-left: 2; }
    """

    def __init__(
        self,
        question: str,
        *,
        verb: str = "Confirm",
        reason: bool = True,
        duration: bool = False,
        level: bool = False,
    ) -> None:
        super().__init__()
        self.question = question
        self.verb = verb
        self.fields = (reason, duration, level)

    def compose(self) -> ComposeResult:
        reason, duration, level = self.fields
        with Vertical(id="confirm"):
            yield Static(self.question, id="confirm-question")
            if level:
                yield Input(placeholder="priority: urgent, high, normal, low", id="confirm-level")
            if duration:
                yield Input(
                    placeholder="how long: 10m, 2h, 1d (empty: until lifted)",
                    id="confirm-duration",
                )
            if reason:
                yield Input(placeholder="reason (optional)", id="confirm-reason")
            yield Static("", id="confirm-error")
            with Horizontal(id="confirm-buttons"):
                yield Button(self.verb, variant="error", id="confirm-yes")
                yield Button("Cancel", id="confirm-no")

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()
        else:
            self.query_one("#confirm-yes", Button).focus()

    def _value(self, widget_id: str) -> str:
        found = self.query(f"#{widget_id}").results(Input)
        return next((w.value.strip() for w in found), "")

    def answer(self) -> Confirmed:
        """What was typed; raises RoostError(bad_request) on a bad duration or level."""
        level_text = self._value("confirm-level")
        return Confirmed(
            reason=self._value("confirm-reason"),
            duration=parse_duration(self._value("confirm-duration")),
            level=check_priority(level_text) if level_text else None,
        )

    def confirm(self) -> None:
        try:
            result = self.answer()
        except RoostError as exc:
            self.query_one("#confirm-error", Static).update(exc.message)
            return
        self.dismiss(result)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.confirm()

    @on(Button.Pressed, "#confirm-yes")
    def yes(self) -> None:
        self.confirm()

    @on(Button.Pressed, "#confirm-no")
    def no(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
