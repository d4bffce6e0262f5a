"""Mentions, server-kept unread counts, notifications, typing, away and the room
commands in the web client, in a real browser (headless Chromium) next to SDK
clients, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

from browser_helpers import Browser
from helpers import PASSWORD, client_for, logged_in, message_of, next_event, unique
from modhelpers import staff
from roost.client import Left, Message, RoomChanged
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.mentions import mentions_me, mentions_of
from roost.protocol.messages import Presence, ReadMarker, TypingEvent
from test_web_browser import enter, open_conv, shows
from test_web_edits import says
from web_helpers import web_url

# Every time the page builds a Notification, it is recorded here (a headless
# browser has no desktop to show one on).
RECORD_NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  constructor(title, opts) { window.__notes.push([title, opts.body]); }
};
"""


def badges(b: Browser, key: str) -> list[str]:
    """The badges on conversation ``key``'s button: ['2', '@1'], or []."""
    return [x.text for x in b.find_all(f'button.conv[data-key="{key}"] .badge')]


async def server_counts(client: Any, key: str) -> tuple[int, int]:
    """(unread, mentions) of conversation ``key`` as the server counts them for ``client``."""
    counts = {c.room: c for c in await client.unread()}
    return counts[key].unread, counts[key].mentions


async def until_counts(client: Any, key: str, want: tuple[int, int]) -> None:
    """Wait for the server's counts (mentions are stored just after their message)."""
    for _ in range(100):
        if await server_counts(client, key) == want:
            return
        await asyncio.sleep(0.05)
    assert await server_counts(client, key) == want


async def join_in_page(b: Browser, room: str) -> None:
    b.find("#join-room").send_keys(room)
    b.find("#join-room").submit()
    await b.until(lambda: b.text("#conv-title") == f"#{room}", what=f"#{room} on screen")


async def test_mentions_unread_and_notifications_follow_the_server(server, browsers: Any) -> None:
    url = web_url(server)
    me = unique("web")
    page = browsers()
    await page.login(url, me, PASSWORD)
    await page.wait_chat()
    page.driver.execute_script(RECORD_NOTIFICATIONS)
    await join_in_page(page, unique("elsewhere"))  # general is not on screen
    other_device = client_for(server, me)
    await other_device.start()
    try:
        async with logged_in(server) as bob:
            await bob.follow("general")
            await bob.send("general", "just chatting")
            hey = await bob.send("general", f"hey @{me.upper()}, look at this")
            await page.until(lambda: badges(page, "general") == ["2", "@1"], what="2 unread, @1")
            assert page.driver.title.startswith("(2) ")
            notes = page.driver.execute_script("return window.__notes")
            assert notes == [[f"{bob.user} in #general", f"hey @{me.upper()}, look at this"]]

            # Read on another device: the page's marks follow.
            await other_device.mark_read("general", hey.seq)
            await page.until(lambda: not badges(page, "general"), what="the badges gone")
            assert not page.driver.title.startswith("(")

            # The live @N counts as the server does (@name only): the bare name, or the
            # name inside a word, is highlighted at most, never counted.
            later = await bob.send("general", f"{me}: one more (not mal{me})")
            await page.until(lambda: badges(page, "general") == ["1"], what="1 unread, no @")
            assert await server_counts(other_device, "general") == (1, 0)
            again = await bob.send("general", f"and @{me}.")
            await page.until(lambda: badges(page, "general") == ["2", "@1"], what="2 unread, @1")
            await until_counts(other_device, "general", (2, 1))

            # Read in the page: the server holds the marker, the other device hears of it.
            await page.click('button.conv[data-key="general"]')
            # (its own marker came back to it too: the page's is the one with the later seq)
            ev = await next_event(other_device, ReadMarker, room="general", seq=again.seq)
            assert (ev.unread, ev.mentions) == (0, 0)
            mention_items = page.find_all("#log li.msg.mention")
            assert [li.get_attribute("data-seq") for li in mention_items] == [
                str(hey.seq),
                str(later.seq),
                str(again.seq),
            ]

            # A fresh browser (a new device) shows the server's counts, not its own
            # (of a conversation it does not open on landing, as it does #general).
            await bob.send(f"@{me}", f"@{me} are you there?")
            await bob.send(f"@{me}", "anyone?")
            dm = "@" + "+".join(sorted((me, bob.user)))
            second = browsers()
            await second.login(url, me, PASSWORD, register=False)
            await second.wait_chat()
            await second.until(
                lambda: badges(second, dm) == ["2", "@1"], what="the server's counts"
            )
            counts = {c.room: c for c in await other_device.unread()}
            assert (counts[dm].unread, counts[dm].mentions) == (2, 1)
    finally:
        await other_device.close()


async def test_typing_away_and_idle_in_the_page(server, browsers: Any) -> None:
    url = web_url(server)
    me, room = unique("web"), unique("team")
    page = browsers()
    await page.login(url, me, PASSWORD)
    await page.wait_chat()
    async with logged_in(server) as bob:
        await bob.join(room)
        await join_in_page(page, room)
        assert await bob.typing(room)
        await page.until(
            lambda: page.text("#typing") == f"{bob.user} is typing\u2026", what="typing"
        )
        page.find("#text").send_keys("half a thou")
        ev = await next_event(bob, TypingEvent, room=room, user=me)
        assert ev.user == me
        await page.until(lambda: page.text("#typing") == "", timeout=10, what="typing ends")
        page.find("#text").clear()

        # A stranger typing to me (no conversation yet) makes no empty entry in the list;
        # once there is a conversation, its typing shows.
        async with logged_in(server) as carol:
            assert await carol.typing(f"@{me}")
            await bob.send(room, "after carol typed")  # drawn after her typing event came
            await shows(page, "after carol typed")
            dm = "@" + "+".join(sorted((me, carol.user)))
            assert not page.find_all(f'button.conv[data-key="{dm}"]')
            await carol.send(f"@{me}", "hello there")
            await page.click(f'button.conv[data-key="{dm}"]')
            await shows(page, "hello there")
            for _ in range(50):  # (one relayed per typing_interval)
                if await carol.typing(f"@{me}"):
                    break
                await asyncio.sleep(0.2)
            await page.until(
                lambda: page.text("#typing") == f"{carol.user} is typing\u2026", what="her typing"
            )
            await open_conv(page, room, f"#{room}")

        await enter(page, "/away lunch")
        ev = await next_event(bob, Presence, user=me)
        assert (ev.away, ev.reason) == (True, "lunch")
        await page.until(lambda: "away: lunch" in page.text("#me"), what="own away shown")
        await enter(page, "/back")
        ev = await next_event(bob, Presence, user=me)
        assert not ev.away
        await page.until(lambda: "away" not in page.text("#me"), what="back")

        await bob.set_away("meeting")
        await page.until(
            lambda: any("away: meeting" in li.text for li in page.find_all("#member-list li")),
            what="bob away in the members list",
        )

        # Idle: away after roost.idle_away seconds, back on the next key press.
        page.driver.execute_script("localStorage.setItem('roost.idle_away', '1')")
        page.open(url)
        await page.wait_chat()
        # (the reload's offline and online come first)
        ev = await next_event(bob, Presence, timeout=10, user=me, away=True)
        assert ev.reason == "idle"
        await page.until(lambda: "away: idle" in page.text("#me"), what="idle shown")
        page.find("#text").send_keys("x")
        ev = await next_event(bob, Presence, user=me, away=False)
        assert ev.online


async def test_idle_away_of_one_tab_ends_with_activity_in_any(server, browsers: Any) -> None:
    """Idle-away (reason "idle") belongs to the account: a key press or click in any tab
    brings the user back; an away set on purpose stays."""
    url = web_url(server)
    me = unique("web")
    a, b = browsers(), browsers()  # two tabs (their own storage: only a goes idle)
    await a.login(url, me, PASSWORD)
    await a.wait_chat()
    await b.login(url, me, PASSWORD, register=False)
    await b.wait_chat()
    async with logged_in(server) as bob:  # in #general with me, as everyone
        await bob.follow("general")
        a.driver.execute_script("localStorage.setItem('roost.idle_away', '1')")
        a.open(url)
        await a.wait_chat()
        await next_event(bob, Presence, timeout=10, user=me, away=True, reason="idle")
        await b.until(lambda: "away: idle" in b.text("#me"), what="b hears of the idle-away")
        b.find("#text").send_keys("x")  # activity in the tab that did not go idle
        ev = await next_event(bob, Presence, user=me, away=False)
        assert ev.online
        await a.until(lambda: "away" not in a.text("#me"), what="back in a")
        await b.until(lambda: "away" not in b.text("#me"), what="back in b")

        # A tab opened while idle-away learns it from the members list, and ends it too.
        a.find("#text").send_keys("y")  # (a's idle timer runs again)
        await next_event(bob, Presence, timeout=10, user=me, away=True, reason="idle")
        c = browsers()
        await c.login(url, me, PASSWORD, register=False)
        await c.wait_chat()
        await c.until(lambda: "away: idle" in c.text("#me"), what="c knows of the idle-away")
        c.find("#text").send_keys("z")
        await next_event(bob, Presence, user=me, away=False)

        # Away on purpose is not ended by a key press in another tab.
        a.driver.execute_script("localStorage.setItem('roost.idle_away', '0')")
        b.find("#text").clear()
        await enter(b, "/away lunch")
        await next_event(bob, Presence, user=me, away=True, reason="lunch")
        await a.until(lambda: "away: lunch" in a.text("#me"), what="a hears of lunch")
        a.find("#text").clear()
        await enter(a, "still at lunch")  # key presses, then the message they send
        await message_of(bob, "text", me)
        assert {m.user: (m.away, m.reason) for m in await bob.who("general")}[me] == (
            True,
            "lunch",
        )


async def test_room_commands_in_the_page(server, browsers: Any) -> None:
    url = web_url(server)
    me, room = unique("web"), unique("ops")
    page = browsers()
    await page.login(url, me, PASSWORD)
    await page.wait_chat()
    async with logged_in(server) as bob, logged_in(server) as carol:
        await bob.join(room)
        await carol.join(room)
        await join_in_page(page, room)
        await enter(page, f"/op {carol.user}")
        await says(page, "only its owners")
        page.find("#text").clear()
        await bob.set_room_role(room, me, "owner")
        await page.until(
            lambda: any(
                me in li.text and "room owner" in li.text for li in page.find_all("#member-list li")
            ),
            what="me shown as the room's owner",
        )

        await enter(page, f"/op {carol.user}")
        await says(page, f"room_role: {carol.user} in #{room} as moderator")
        roles = {m.user: m.room_role for m in await bob.who(room)}
        assert roles[carol.user] == "moderator"
        await enter(page, f"/deop {carol.user}")
        await says(page, f"room_role: {carol.user} in #{room} as member")

        await enter(page, f"/roommute {carol.user} 10m too loud")
        await says(page, f"room_mute: {carol.user} in #{room} until")
        try:
            await carol.send(room, "let me talk")
        except RoostError as err:
            assert err.code == ErrorCode.MUTED
        else:
            raise AssertionError("a muted member could send")
        await enter(page, f"/roomunmute {carol.user}")
        await says(page, f"room_unmute: {carol.user} in #{room}")
        await carol.send(room, "thanks")

        await enter(page, "/private")
        ev = await next_event(bob, RoomChanged, room=room)
        assert ev.private
        await says(page, "private (invitation only) now")
        await enter(page, "/private off")
        ev = await next_event(bob, RoomChanged, room=room)
        assert not ev.private

        await enter(page, f"/roomkick {carol.user} out you go")
        ev = await next_event(carol, Left, room=room, user=carol.user)
        assert (ev.by, ev.reason) == (me, "out you go")

        await enter(page, f"/deleteroom {room}")
        await says(page, "admin")
        page.find("#text").clear()  # a refused command comes back to the box
        await enter(page, "/roommute")
        await says(page, "usage: /roommute NAME [DURATION] [REASON]")


async def test_the_page_finds_the_same_mentions_as_the_server(server, browsers: Any) -> None:
    """mentions.js is a copy of roost.protocol.mentions' rule: on tricky texts they agree."""
    page = browsers()
    page.open(web_url(server))
    texts = [
        "hi @Bob.",
        "mail a@bob.org",
        "é@bob",
        "@bob- and @bob_",
        "bob: hi",
        "bobby",
        "x.bob",
        "@_x @y.z. @-no",
        "Bob!",
        "（@bob）",
        "@ΒΟΒ",
        "\u00e9bob",
        "@" + "b" * 40,
    ]
    got = page.driver.execute_async_script(
        """
        const [texts, done] = arguments;
        import("/static/mentions.js").then((m) => done(texts.map(
            (t) => [[...m.mentionsOf(t)].sort(), m.mentionsMe(t, "bob")])));
        """,
        texts,
    )
    want = [[sorted(mentions_of(t)), mentions_me(t, "bob")] for t in texts]
    assert got == want, [(t, g, w) for t, g, w in zip(texts, got, want, strict=True) if g != w]


async def test_a_renamed_room_moves_in_the_page(server, browsers: Any) -> None:
    url = web_url(server)
    me, old, new = unique("web"), unique("before"), unique("after")
    page = browsers()
    await page.login(url, me, PASSWORD)
    await page.wait_chat()
    root = await staff(server, "root", "admin")
    try:
        await root.join(old)
        await root.send(old, "said before the rename")
        await join_in_page(page, old)
        await shows(page, "said before the rename")
        await enter(page, f"/renameroom {new}")
        await says(page, "only admins")
        page.find("#text").clear()
        await root.rename_room(old, new, "tidy")
        await page.until(lambda: page.text("#conv-title") == f"#{new}", what=f"#{new} on screen")
        await says(page, f"#{old} is now #{new} (renamed by root: tidy)")
        await shows(page, "said before the rename")  # the messages moved with the room
        assert not page.find_all(f'button.conv[data-key="{old}"]')
        await enter(page, "said under the new name")
        got = await next_event(root, Message, text="said under the new name")
        assert (got.room, got.seq) == (new, 2)
    finally:
        await root.close()
