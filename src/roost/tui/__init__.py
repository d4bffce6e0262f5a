"""The full-screen Textual client (``roost chat``); it talks to servers through roost.client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roost.tui.app import RoostApp, run_tui

__all__ = ["RoostApp", "run_tui"]


def __getattr__(name: str) -> Any:
    # Textual loads only for the app: the line client reads roost.tui.config
    # (remembered server and user, read markers) without paying for it.
    if name in __all__:
        from roost.tui import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
