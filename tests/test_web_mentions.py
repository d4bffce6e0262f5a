"""The mentions view of the web client (docs/web.md, docs/protocol.md 7.7), in a real
browser (headless Chromium) next to SDK clients, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

from browser_helpers import Browser
from helpers import PASSWORD, logged_in, unique
from test_web_browser import enter
from web_helpers import web_url

# True if the element ``arguments[0]`` (a CSS selector) is inside the log's visible part.
ON_SCREEN = """
const box = document.querySelector(arguments[0]).getBoundingClientRect();
const log = document.getElementById("log").getBoundingClientRect();
return box.top >= log.top && box.bottom <= log.bottom;
"""


def entries(b: Browser) -> list[tuple[str, str, str]]:
    """What the mentions view lists, oldest first: (where, sender, text) per entry."""
    return [
        (
            li.find_element("css selector", ".where").text,
            li.find_element("css selector", ".sender").text,
            li.find_element("css selector", ".text").text,
        )
        for li in b.find_all("#mention-list li.mentioned")
    ]


async def lists(b: Browser, want: list[tuple[str, str, str]]) -> None:
    await b.until(lambda: entries(b) == want, what=f"the mentions {want}")


async def stored(client: Any, text: str) -> None:
    """Wait until the server lists the mention ``text`` for ``client`` (mentions are
    stored just after their message)."""
    for _ in range(100):
        if text in [m.text for m in await client.mentions()]:
            return
        await asyncio.sleep(0.05)
    assert text in [m.text for m in await client.mentions()]


async def test_the_mentions_view_lists_what_mentions_me_and_opens_it(server, browsers) -> None:
    me, room = unique("web"), unique("team")
    async with logged_in(server, me) as mine, logged_in(server) as bob:
        await mine.join(room)
        await bob.join(room)
        early = await bob.send(room, f"@{me} the early one")
        for i in range(60):  # more than the page loads of #team: the early one is not held
            await bob.send(room, f"filler {i}")
        await bob.send(room, f"{me}: the bare name is highlighted, not listed")
        await bob.send(room, "no mention here")
        await bob.send(room, f"look @{me.upper()}, here")
        await bob.send(f"@{me}", f"@{me} in private")
        await stored(mine, f"@{me} in private")
        dm = "@" + "+".join(sorted((me, bob.user)))

        page = browsers()
        await page.login(web_url(server), me, PASSWORD, register=False)
        await page.wait_chat()
        await page.click("#open-mentions")
        await lists(
            page,
            [
                (f"#{room}", bob.user, f"@{me} the early one"),
                (f"#{room}", bob.user, f"look @{me.upper()}, here"),
                (f"@{bob.user}", bob.user, f"@{me} in private"),
            ],
        )
        assert page.visible("#mentions-view") and not page.visible("#conversation")
        assert page.find("#open-mentions").get_attribute("aria-current") == "true"
        assert not page.visible("#older-mentions")  # one page holds them all
        assert page.text("#mentions-note") == ""
        stamp = page.find("#mention-list li.mentioned time.when")
        assert stamp.get_attribute("datetime").endswith("Z") and stamp.text

        # A mention that comes while the view is open joins it (a message without one does not).
        await bob.send(room, "still no mention")
        await bob.send(room, f"and @{me} once more")
        await page.until(lambda: len(entries(page)) == 4, what="the live mention")
        assert entries(page)[-1] == (f"#{room}", bob.user, f"and @{me} once more")

        # An entry opens its conversation at the message: fetched back to it, marked, focused.
        await page.click(f'#mention-list li.mentioned[data-seq="{early.seq}"] button')
        await page.until(lambda: page.text("#conv-title") == f"#{room}", what=f"#{room} open")
        assert not page.visible("#mentions-view")
        jumped = f'#log li.msg.jumped[data-seq="{early.seq}"]'
        await page.until(lambda: page.find_all(jumped), what="the early one, marked")
        assert page.find_all("#log li.msg .text")[0].text == f"@{me} the early one"
        assert len(page.log_texts()) == 66  # from the early one on, without a hole
        assert page.driver.execute_script("return document.activeElement.dataset.seq") == str(
            early.seq
        )
        assert page.driver.execute_script(ON_SCREEN, jumped), "the marked message is on screen"

        # /mentions typed in the message box opens the view too; an entry opens a DM.
        await enter(page, "/mentions")
        await page.until(lambda: len(entries(page)) == 4, what="the view again")
        assert page.find("#text").get_attribute("value") == ""
        await page.click(f'#mention-list li.mentioned[data-room="{dm}"] button')
        await page.until(lambda: page.text("#conv-title") == f"@{bob.user}", what="the DM open")
        await page.until(lambda: page.find_all("#log li.msg.jumped"), what="the DM one, marked")
        assert page.text("#log li.msg.jumped .text") == f"@{me} in private"


async def test_an_empty_view_and_paging_back(server_factory, browsers) -> None:
    # A page is at most history_page long (the hello's limit): 2 here, so 3 make two pages.
    srv = server_factory("paged", history_page=2)
    me = unique("web")
    page = browsers()
    await page.login(web_url(srv), me, PASSWORD)
    await page.wait_chat()
    await page.click("#open-mentions")
    await page.until(
        lambda: page.text("#mentions-note") == "No one has mentioned you yet.",
        what="the empty view",
    )
    assert entries(page) == [] and not page.visible("#older-mentions")

    async with logged_in(srv) as bob, logged_in(srv, me, register=False) as mine:
        texts = [f"@{me} one", f"@{me} two", f"@{me} three"]
        for text in texts[:2]:
            await bob.send("general", text)
        await bob.send("general", "not for you")
        await bob.send("general", texts[2])
        await stored(mine, texts[2])
        # (while open, the view took them in as they came)
        await lists(page, [("#general", bob.user, t) for t in texts])

        await page.click("#open-mentions")  # asked again: the newest page
        await lists(page, [("#general", bob.user, t) for t in texts[1:]])
        assert page.visible("#older-mentions")  # the page was full: there may be more
        await page.click("#older-mentions")
        await lists(page, [("#general", bob.user, t) for t in texts])
        assert not page.visible("#older-mentions")  # a page not full: nothing older
        assert page.text("#mentions-note") == ""
