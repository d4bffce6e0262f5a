"""What commands and extensions may ask of the chat screen (ChatScreen implements it)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from roost.tui.session import ChatSession

if TYPE_CHECKING:
    from textual.screen import Screen

T = TypeVar("T")


class ChatApi(Protocol):
    session: ChatSession

    @property
    def current(self) -> str | None:
        """The key of the conversation on screen."""

    def show(self, text: str, level: str = "info") -> None:
        """Print a local line (never sent) in the current conversation's view."""

    def switch_to(self, key: str) -> None:
        """Show a conversation (loading its latest messages the first time)."""

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background; a RoostError it raises is shown as a line."""

    async def ask(self, screen: Screen[T]) -> T:
        """Show a (modal) screen and wait for what it is dismissed with (from background())."""

    def show_help(self) -> None: ...

    def quit(self) -> None: ...
