"""/send and /get in the full-screen client, and how an offer looks there."""

from __future__ import annotations

from pathlib import Path

from files_helpers import make_file
from helpers import logged_in, next_event, unique
from roost.client import Message
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
            shown = screen_text(pilot.app)
            assert "[file] slides.pdf" in shown and f"/get {file_id}" in shown

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
