"""Snapshots of the main screens at 80x24 (pytest-textual-snapshot).

The scene is fixed (tests/tui_scene.py) and the clock is frozen, so a changed
snapshot means a changed look. Update with `pytest --snapshot-update` and review.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, TextArea

from conftest import PASSWORD
from roost.tui import RoostApp
from roost.tui.screens.chat import ChatScreen
from roost.tui.screens.confirm import ConfirmScreen
from roost.tui.screens.transfers import TransfersScreen
from roost.tui.transfers import transfers_of
from roost.tui.widgets.lists import MemberList
from tui_helpers import wait_until
from tui_scene import SERVER_LABEL, build_scene, fixed_time, stop

SIZE = (80, 24)


def steady(app: Any) -> None:
    """No blinking cursors: the screenshot must not depend on when it is taken."""
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False


def test_login_screen(snap_compare, tmp_path) -> None:
    app = RoostApp(server=SERVER_LABEL, user="alice", config_path=tmp_path / "config")

    async def ready(pilot: Any) -> None:
        await pilot.pause()
        steady(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def scene_app(server: Any, tmp_path: Path) -> RoostApp:
    return RoostApp(
        server=server.address,
        user="alice",
        password=PASSWORD,
        config_path=tmp_path / "config",
        time_format=fixed_time,
        server_label=SERVER_LABEL,
    )


async def scene_ready(pilot: Any) -> None:
    """The chat screen with general loaded and bob and carol shown online."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
    screen = app.screen
    await wait_until(pilot, lambda: screen.current == "general" and "general" in screen.views)
    view = screen.views["general"]
    await wait_until(pilot, lambda: len(view.shown) == 7 and view.complete)
    members = screen.query_one(MemberList)
    await wait_until(pilot, lambda: members.border_title == "Members 3/4")
    steady(app)
    await pilot.pause()


def test_chat_screen(snap_compare, server, tmp_path) -> None:
    online = build_scene(server, tmp_path / "config")
    try:
        assert snap_compare(scene_app(server, tmp_path), terminal_size=SIZE, run_before=scene_ready)
    finally:
        stop(online)


def test_help_screen(snap_compare, server, tmp_path) -> None:
    online = build_scene(server, tmp_path / "config")

    async def help_open(pilot: Any) -> None:
        await scene_ready(pilot)
        await pilot.press("f1")
        await pilot.pause()

    try:
        assert snap_compare(scene_app(server, tmp_path), terminal_size=SIZE, run_before=help_open)
    finally:
        stop(online)


def test_transfers_screen(snap_compare, server, tmp_path) -> None:
    online = build_scene(server, tmp_path / "config")

    async def transfers_open(pilot: Any) -> None:
        await scene_ready(pilot)
        # Fixed figures and a frozen clock: one transfer in each state.
        registry = transfers_of(pilot.app.screen.session)
        registry.clock = lambda: 100.0
        mib = 1024 * 1024
        for kind, name, total, done, state, detail, started, ended in (
            (
                "upload",
                "release-notes.pdf",
                2 * mib,
                2 * mib,
                "done",
                "sent as k3v7q2m4x9pa",
                98.0,
                99.0,
            ),
            ("download", "db-2.log.gz", 8 * mib, 3 * mib, "cancelled", "", 90.0, 95.0),
            (
                "upload",
                "huge.iso",
                40 * mib,
                0,
                "failed",
                "huge.iso: 40.0 MiB exceeds the 10.0 MiB limit",
                99.0,
                99.0,
            ),
            ("download", "screenshot.png", 4 * mib, mib, "running", "", 98.0, None),
        ):
            t = registry.start(kind, name, total)
            t.done, t.base, t.state, t.detail = done, 0, state, detail
            t.started, t.ended = started, ended
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TransfersScreen))
        await pilot.pause()

    try:
        assert snap_compare(
            scene_app(server, tmp_path), terminal_size=SIZE, run_before=transfers_open
        )
    finally:
        stop(online)


def test_block_confirmation(snap_compare, server, tmp_path) -> None:
    online = build_scene(server, tmp_path / "config")

    async def confirm_open(pilot: Any) -> None:
        await scene_ready(pilot)
        members = pilot.app.screen.query_one(MemberList)
        members.focus()
        members.highlighted = [o.id for o in members.options].index("bob")
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        steady(pilot.app)
        await pilot.pause()

    try:
        assert snap_compare(
            scene_app(server, tmp_path), terminal_size=SIZE, run_before=confirm_open
        )
    finally:
        stop(online)
