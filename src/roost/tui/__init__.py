"""The full-screen Textual client (``roost chat``); it talks to servers through roost.client."""

from roost.tui.app import RoostApp, run_tui

__all__ = ["RoostApp", "run_tui"]
