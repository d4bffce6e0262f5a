"""Edits, deletions, reactions, replies and room events in the web client, in a real
browser (headless Chromium) next to an SDK client, against a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from browser_helpers import Browser
from helpers import PASSWORD, logged_in, message_of, next_event, unique
from roost.client import RoomChanged
from test_web_browser import enter, shows
from web_helpers import web_url

STATIC = (
    Path(__file__).resolve().parent.parent
    / "src"
    / "roost"
    / "server"
    / "gateways"
    / "web"
    / "static"
)


def item_text(b: Browser, seq: int) -> str:
    """What the page shows of message ``seq`` (quote, text, reactions), or ''."""
    items = b.find_all(f'#log li.msg[data-seq="{seq}"]')
    return items[0].text if items else ""


def system_lines(b: Browser) -> list[str]:
    return [li.text for li in b.find_all("#log li.system")]


async def says(b: Browser, part: str) -> None:
    await b.until(lambda: any(part in t for t in system_lines(b)), what=f"a line with {part!r}")


async def test_edits_reactions_replies_and_deletions_in_the_page(server, browsers: Any) -> None:
    url = web_url(server)
    me = unique("web")
    page = browsers()
    await page.login(url, me, PASSWORD)
    await page.wait_chat()
    async with logged_in(server) as bob:
        await bob.follow("general")
        first = await bob.send("general", "helo wrold")
        await shows(page, "helo wrold")
        await bob.edit("general", first.seq, "hello world")
        await page.until(lambda: "hello world (edited)" in item_text(page, first.seq), what="edit")
        assert not any("hello world" in t and "helo" not in t for t in page.log_texts()[:-1])
        await enter(page, "/react -1 :tada:")
        ev = await message_of(bob, "react", me)
        assert (ev.ref, ev.text) == (first.seq, "\U0001f389")
        await page.until(lambda: "\U0001f389 1" in item_text(page, first.seq), what="the chip")
        # pressing one's own chip takes the reaction back
        await page.click(f'#log li.msg[data-seq="{first.seq}"] button.reaction.mine')
        ev = await message_of(bob, "unreact", me)
        assert ev.ref == first.seq
        await page.until(lambda: "\U0001f389" not in item_text(page, first.seq), what="no chip")
        await enter(page, f"/reply {first.seq} sure thing")
        reply = await message_of(bob, "text", me)
        assert (reply.text, reply.reply_to) == ("sure thing", first.seq)
        await page.until(lambda: "sure thing" in item_text(page, reply.seq), what="the reply")
        assert f"\u21aa {bob.user}: hello world" in item_text(page, reply.seq)
        await bob.edit("general", first.seq, "hello, world")
        await page.until(
            lambda: f"\u21aa {bob.user}: hello, world" in item_text(page, reply.seq),
            what="the quote follows the edit",
        )
        await enter(page, "/edit last sure, thing")
        await page.until(
            lambda: "sure, thing (edited)" in item_text(page, reply.seq), what="own edit"
        )
        await says(page, f"edited #{reply.seq}")
        # refusals and mistakes are lines; the text comes back to the box
        await enter(page, f"/edit {first.seq} mine now")
        await says(page, "only its author")
        assert page.find("#text").get_attribute("value") == f"/edit {first.seq} mine now"
        page.find("#text").clear()
        await enter(page, "/frobnicate")
        await says(page, "unknown command /frobnicate")
        page.find("#text").clear()
        await enter(page, "/react")
        await says(page, "usage: /react SEQ EMOJI")
        page.find("#text").clear()
        await enter(page, "//not a command")
        await message_of(bob, "text", me)  # sent as "/not a command"
        await shows(page, "/not a command")
        await bob.delete("general", first.seq)
        await page.until(lambda: "(deleted)" in item_text(page, first.seq), what="deleted")
        assert "hello world" not in item_text(page, first.seq)
        # the events are no lines of their own
        assert len(page.find_all("#log li.msg")) == 3

    # A reload folds the same state from history.
    page.open(url)
    await page.wait_chat()
    await page.until(lambda: "(deleted)" in item_text(page, first.seq), what="deleted, again")
    assert "sure, thing (edited)" in item_text(page, reply.seq)


async def test_room_topic_and_being_put_out_in_the_page(server, browsers: Any) -> None:
    url = web_url(server)
    me, room = unique("web"), unique("plans")
    page = browsers()
    await page.login(url, me, PASSWORD)
    await page.wait_chat()
    async with logged_in(server) as bob:
        await bob.join(room)  # bob owns it
        page.find("#join-room").send_keys(room)
        page.find("#join-room").submit()
        await page.until(lambda: page.text("#conv-title") == f"#{room}", what="the room")
        await enter(page, "/topic Launch on Friday")
        await says(page, "only its moderators and owners")
        page.find("#text").clear()
        await bob.set_room_role(room, me, "moderator")
        await enter(page, "/topic Launch on Friday")
        ev = await next_event(bob, RoomChanged, room=room)
        assert (ev.topic, ev.by) == ("Launch on Friday", me)
        await says(page, "topic: Launch on Friday (set by")
        await enter(page, "/topic")
        await says(page, f"#{room}: Launch on Friday")
        secret = unique("secret")
        await bob.join(secret, private=True)
        await bob.invite(secret, me)
        await says(page, f"invites you into #{secret}")
        await bob.room_kick(room, me, "enough")
        await page.until(lambda: page.text("#conv-title") == "#general", what="back in general")
        await says(page, f"put you out of #{room}: enough")
        assert not page.find_all(f'button.conv[data-key="{room}"]')


def test_the_page_knows_the_same_shortcodes_as_the_terminal_clients() -> None:
    """book.js keeps its own copy of the table (the page has no Python): the two agree."""
    from roost.client.edits import SHORTCODES

    js = (STATIC / "book.js").read_text()
    table = dict(re.findall(r'"(:[^"]+:)": "([^"]+)"', js))

    def char(m: re.Match[str]) -> str:
        return chr(int(m.group(1) or m.group(2), 16))

    decoded = {k: re.sub(r"\\u\{([0-9a-f]+)\}|\\u([0-9a-f]{4})", char, v) for k, v in table.items()}
    assert decoded == SHORTCODES
