"""/send and /get in the full-screen client, and how an offer looks there."""

from __future__ import annotations

from pathlib import Path

from files_helpers import make_file
from helpers import logged_in, next_event, unique
from roost.client import Message
from roost.tui.screens.transfers import TransfersScreen
from roost.tui.session import Update
from roost.tui.transfers import transfers_of
from test_tui import SIZE, chat_app, chat_screen, infos, type_line
from tui_helpers import screen_text, wait_until


async def test_send_and_get_in_the_full_screen_client(server, tmp_path: Path) -> None:
    alice = unique("alice")
    data = make_file(tmp_path / "slides.pdf", 40_000)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    async with logged_in(server) as bob:
        app = chat_app(server, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await type_line(pilot, f"/send {tmp_path / 'slides.pdf'}")
            offer = await next_event(bob, Message, sender=alice, timeout=10)
            assert offer.file is not None and offer.file.name == "slides.pdf"
            file_id = offer.file.id
            await wait_until(pilot, lambda: f"sent slides.pdf as {file_id}" in infos(screen))
            await wait_until(
                pilot,
                lambda: (
                    "[file] slides.pdf" in screen_text(pilot.app)
                    and f"/get {file_id}" in screen_text(pilot.app)
                ),
            )

            await type_line(pilot, f"/get {file_id} {inbox}")
            await wait_until(
                pilot, lambda: f"saved {file_id} to {inbox / 'slides.pdf'}" in infos(screen)
            )
            await type_line(pilot, "/get nosuchfile00")
            await wait_until(
                pilot, lambda: any("no file with id 'nosuchfile00'" in t for t in infos(screen))
            )
            await type_line(pilot, "/send /no/such/file")
            await wait_until(pilot, lambda: "no file '/no/such/file'" in infos(screen))
    assert (inbox / "slides.pdf").read_bytes() == data


async def test_upload_progress_on_the_transfers_screen(server_factory, tmp_path: Path) -> None:
    srv = server_factory(chunk_size=4096)
    alice = unique("alice")
    data = make_file(tmp_path / "backup.tar", 3 * 1024 * 1024)
    async with logged_in(srv) as bob:
        app = chat_app(srv, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            seen: list[int] = []
            registry = transfers_of(screen.session)
            screen.session.subscribe(
                lambda u: u.kind == "transfers" and seen.extend(t.done for t in registry.items)
            )
            await type_line(pilot, f"/send {tmp_path / 'backup.tar'}")
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, TransfersScreen))
            await wait_until(pilot, lambda: "done" in screen_text(app))
            shown = screen_text(app)
            assert "↑ backup.tar" in shown and "100%" in shown
            assert "3.0 MiB / 3.0 MiB" in shown and "iB/s" in shown  # the average rate
            # progress was reported along the way, not only at the end
            assert any(0 < n < len(data) for n in seen) and seen == sorted(seen)
            offer = await next_event(bob, Message, sender=alice, timeout=10)
            assert offer.file is not None and offer.file.size == len(data)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen)


async def test_save_and_open_an_offer(server, tmp_path: Path, monkeypatch) -> None:
    downloads = tmp_path / "dl"
    monkeypatch.setenv("ROOST_DOWNLOADS", str(downloads))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    opener.chmod(0o755)
    alice = unique("alice")
    data = make_file(tmp_path / "notes.txt", 100_000, seed=3)
    async with logged_in(server) as bob:
        app = chat_app(server, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            sent = await bob.upload(tmp_path / "notes.txt", "general")
            file_id = sent.file.id
            await wait_until(pilot, lambda: "[file] notes.txt" in screen_text(app))
            await type_line(pilot, f"/save {file_id}")
            saved = downloads / "notes.txt"
            await wait_until(pilot, lambda: f"saved {file_id} to {saved}" in infos(screen))
            assert saved.read_bytes() == data

            monkeypatch.setenv("PATH", str(bin_dir))
            await type_line(pilot, f"/open {file_id}")
            second = downloads / "notes (1).txt"
            await wait_until(pilot, lambda: f"opened {second}" in infos(screen))
            assert opened.read_text() == str(second) and second.read_bytes() == data

            monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
            await type_line(pilot, f"/open {file_id}")
            await wait_until(
                pilot, lambda: any("no program to open files here" in t for t in infos(screen))
            )
            registry = transfers_of(screen.session)
            assert [t.state for t in registry.items] == ["done"] * 3


async def test_cancel_a_download_from_the_transfers_screen(server_factory, tmp_path: Path) -> None:
    # one transfer at a time: a second download only starts if the first really stopped
    srv = server_factory(chunk_size=4096, max_transfers=1, max_file_size=64 * 1024 * 1024)
    downloads = tmp_path / "dl"
    alice = unique("alice")
    data = make_file(tmp_path / "big.bin", 8 * 1024 * 1024, seed=5)
    async with logged_in(srv) as bob:
        sent = await bob.upload(tmp_path / "big.bin", "general")
        app = chat_app(srv, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            client = screen.session.client
            registry = transfers_of(screen.session)
            held: list[bool] = []

            def hold(update: Update) -> None:
                # Called from the progress report itself: the first bytes in, the client
                # stops reading, so the download cannot finish before the cancel.
                if update.kind == "transfers" and not held and registry.items[0].done > 0:
                    client.hold_reading()
                    held.append(True)

            screen.session.subscribe(hold)
            await type_line(pilot, f"/get {sent.file.id} {downloads}")
            await wait_until(pilot, lambda: held)
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, TransfersScreen))
            [t] = registry.items
            assert t.state == "running" and 0 < t.done < len(data)
            await pilot.press("c")
            await wait_until(pilot, lambda: "(cancelling)" in screen_text(app))
            client.release_reading()
            await wait_until(pilot, lambda: t.state == "cancelled")
            await wait_until(pilot, lambda: "cancelled" in screen_text(app))
            assert t.done < len(data)
            await pilot.press("escape")
            await wait_until(pilot, lambda: f"cancelled fetching {sent.file.id}" in infos(screen))
            assert list(downloads.iterdir()) == []  # no file, no .part
            # the server stopped it: the single transfer slot is free again
            await type_line(pilot, f"/get {sent.file.id} {downloads}")
            await wait_until(
                pilot, lambda: any(f"saved {sent.file.id}" in i for i in infos(screen)), 20
            )
            assert (downloads / "big.bin").read_bytes() == data
            # pressing C on a finished transfer does nothing
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, TransfersScreen))
            await pilot.press("c")
            assert [t.state for t in registry.items] == ["cancelled", "done"]
