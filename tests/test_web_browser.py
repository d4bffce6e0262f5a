"""The web client in a real browser (headless Chromium) against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from browser_helpers import Browser
from conftest import run_cli
from helpers import PASSWORD, logged_in, next_event, unique
from modhelpers import staff
from roost.client import Message
from web_helpers import web_url

# The screenshots of docs/web.md and README.md are refreshed only on purpose
# (ROOST_SCREENSHOTS=1); otherwise a test run would rewrite tracked files.
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


async def enter(b: Browser, text: str, priority: str = "") -> None:
    """Type a message as a user does and press Enter."""
    if priority:
        Select(b.find("#priority")).select_by_visible_text(priority)
    box = b.find("#text")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        box.send_keys(line)
        if i < len(lines) - 1:
            box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys(Keys.ENTER)


async def shows(b: Browser, text: str, timeout: float = 15.0) -> None:
    await b.until(lambda: text in b.log_texts(), timeout, f"{text!r} in the log")


async def open_conv(b: Browser, key: str, title: str) -> None:
    await b.click(f'button.conv[data-key="{key}"]', f"the button of {key}")
    await b.until(lambda: b.text("#conv-title") == title, what=f"conversation {title}")


async def test_two_browsers_and_an_sdk_client_talk_in_a_room_and_a_dm(server, browsers) -> None:
    url = web_url(server)
    alice, bob = unique("alice"), unique("bob")
    # bob's account may send urgent messages (an admin's setting).
    made = run_cli("user", "add", bob, "--priority", "urgent", "--data-dir", str(server.data_dir))
    assert made.returncode == 0, made.stderr
    a, b = browsers(), browsers()
    await a.login(url, alice, PASSWORD)
    await b.login(url, bob, PASSWORD, register=False)
    await a.wait_chat()
    await b.wait_chat()
    async with logged_in(server) as sdk:
        await enter(a, "hello from alice")
        await shows(b, "hello from alice")
        ev = await next_event(sdk, Message, text="hello from alice")
        assert ev.sender == alice and ev.room == "general"
        await sdk.send("general", "hello from the sdk")
        await shows(a, "hello from the sdk")
        # Screen readers hear it from the live region.
        assert a.find("#announce").get_attribute("aria-live") == "polite"
        await a.until(
            lambda: "hello from the sdk" in a.find("#announce").get_attribute("textContent")
        )
        await shows(b, "hello from the sdk")
        # Shift+Enter makes a second line; Enter sends; urgent is marked.
        assert [o.text for o in Select(a.find("#priority")).options] == ["normal", "low"]
        await enter(b, "two\nlines", priority="urgent")
        await shows(a, "two\nlines")
        ev = await next_event(sdk, Message, text="two\nlines")
        assert ev.priority == 0
        item = a.find_all("#log li.msg")[-1]
        assert "urgent" in item.get_attribute("class") and "URGENT" in item.text
        # Members with presence.
        await a.until(
            lambda: any(
                bob in li.text and "online" in li.text for li in a.find_all("#member-list li")
            ),
            what="bob online in the members",
        )
        # A direct message: alice opens it from the members list.
        await a.click(f'#member-list button[aria-label="Message {bob}"]')
        await a.until(lambda: a.text("#conv-title") == "@" + bob, what="the DM")
        await enter(a, "just for bob")
        # bob sees an unread count on the new conversation, opens it, reads it.
        await b.until(
            lambda: any(
                "@" + alice in x.text and x.find_elements("css selector", ".badge")
                for x in b.find_all("#dm-list button.conv")
            ),
            what="an unread badge on the DM",
        )
        await open_conv(b, "@" + "+".join(sorted([alice, bob])), "@" + alice)
        await shows(b, "just for bob")
        assert not b.find_all("#dm-list .badge")
        # The SDK client, not a party, never saw it; its own DM reaches alice.
        await sdk.send("@" + alice, "sdk to alice")
        await a.until(
            lambda: any(
                x.find_elements("css selector", ".badge")
                for x in a.find_all("#dm-list button.conv")
            ),
            what="a badge for the sdk's DM",
        )
        seen = [m async for m in sdk.history("general")]
        assert "just for bob" not in [m.text for m in seen]


async def test_a_file_goes_from_the_browser_to_the_sdk_and_back(server, browsers, tmp_path) -> None:
    url = web_url(server)
    a = browsers()
    await a.login(url, unique("web"), PASSWORD)
    await a.wait_chat()
    content = os.urandom(300_000)  # several chunks
    src = tmp_path / "report.bin"
    src.write_bytes(content)
    async with logged_in(server) as sdk:
        a.find("#file").send_keys(str(src))
        offer = await next_event(sdk, Message, timeout=20)
        assert offer.file is not None and offer.file.name == "report.bin"
        assert offer.file.sha256 == hashlib.sha256(content).hexdigest()
        got = await sdk.download(offer.file.id, tmp_path / "from-web.bin")
        assert got.read_bytes() == content
        await a.until(lambda: "sent, SHA-256" in a.text("#transfers"), what="upload done")
        # Drag and drop: a file dropped on the conversation is sent too.
        a.driver.execute_script(
            """const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array([1, 2, 3])], "dropped.txt", {type: "text/plain"}));
            document.getElementById("conversation").dispatchEvent(
              new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));"""
        )
        dropped = await next_event(sdk, Message, timeout=20)
        assert dropped.file is not None and dropped.file.name == "dropped.txt"
        assert dropped.file.size == 3
        # And back: the SDK uploads, the browser downloads with the checksum checked.
        back = os.urandom(200_000)
        (tmp_path / "back.bin").write_bytes(back)
        res = await sdk.upload(tmp_path / "back.bin", "general")
        await a.until(
            lambda: any("back.bin" in x.text for x in a.find_all("button.download")),
            what="the offer in the page",
        )
        for button in a.find_all("button.download"):
            if "back.bin" in button.text:
                button.click()
        digest = hashlib.sha256(back).hexdigest()
        await a.until(lambda: f"SHA-256 checked: {digest}" in a.text("#transfers"), 20, "checked")
        assert res.file.sha256 == digest
        saved = a.downloads / "back.bin"
        await a.until(lambda: saved.exists() and saved.read_bytes() == back, 20, "the saved file")


async def test_server_restart_the_page_resumes_without_loss_or_duplicates(server, browsers) -> None:
    url = web_url(server)
    a = browsers()
    await a.login(url, unique("web"), PASSWORD)
    await a.wait_chat()
    await enter(a, "before the restart")
    await shows(a, "before the restart")
    await asyncio.to_thread(server.restart)
    # Messages sent while the page is still away, then after it is back.
    async with logged_in(server) as sdk:
        for i in range(5):
            await sdk.send("general", f"while away {i}")
        await a.until(lambda: a.text("#status") == "online", 20, "the page back online")
        for i in range(5):
            await sdk.send("general", f"after {i}")
        await shows(a, "after 4")
    texts = a.log_texts()
    expected = ["before the restart"] + [f"while away {i}" for i in range(5)]
    expected += [f"after {i}" for i in range(5)]
    assert texts == expected  # all of them, once each, in order
    # The page still sends after the resume (with its cookie, not a password).
    await enter(a, "still me")
    await shows(a, "still me")


async def test_scroll_back_loads_older_history_in_pages(server, browsers) -> None:
    async with logged_in(server) as sdk:
        for i in range(1, 121):
            await sdk.send("general", f"old {i}")
    a = browsers()
    await a.login(web_url(server), unique("web"), PASSWORD)
    await a.wait_chat()
    await shows(a, "old 120")
    assert a.log_texts() == [f"old {i}" for i in range(71, 121)]  # the newest page
    await a.click("#older")
    await shows(a, "old 21")
    await a.click("#older")
    await shows(a, "old 1")
    assert a.log_texts() == [f"old {i}" for i in range(1, 121)]
    assert not a.visible("#older")  # nothing older left


async def test_a_moderator_blocks_the_browser_user_who_sees_why(server, browsers) -> None:
    url = web_url(server)
    user = unique("web")
    mod = await staff(server, unique("mod"), "moderator")
    await mod.close()
    m, u = browsers(), browsers()
    await u.login(url, user, PASSWORD)
    await u.wait_chat()
    await m.login(url, mod.user, PASSWORD, register=False)
    await m.wait_chat()
    await m.until(lambda: m.visible("#open-mod"), what="the moderation button")
    m.find("#open-mod").click()
    await m.until(lambda: m.visible("#mod-dialog"), what="the moderation dialog")
    m.find("#mod-user").send_keys(user)
    m.find("#mod-duration").send_keys("2h")
    m.find("#mod-reason").send_keys("spamming the room")
    m.find("#mod-submit").click()
    await m.until(
        lambda: m.text("#mod-result").startswith(f"block: {user} until"), what="the block applied"
    )
    await u.until(lambda: "spamming the room" in u.text("#banner"), what="the reason shown")
    assert "blocked" in u.text("#banner")
    await u.until(lambda: u.visible("#login-form"), what="back at the login form")
    assert "spamming the room" in u.text("#login-error")
    # The audit log and the sanctions list of the moderation screen show it.
    await m.until(lambda: "spamming the room" in m.text("#blocks-list"), what="the sanction listed")
    await m.until(lambda: user in m.text("#audit-list"), what="the audit entry")
    # Logging in again is refused with the reason.
    u.find("#login-user").clear()
    u.find("#login-user").send_keys(user)
    u.find("#login-password").send_keys(PASSWORD)
    u.find("#login-submit").click()
    await u.until(lambda: "spamming the room" in u.text("#login-error"), what="refusal")


async def test_a_newcomer_waits_and_a_moderator_admits_from_the_page(
    server_factory, browsers
) -> None:
    srv = server_factory("approve", registration="approve")
    url = web_url(srv)
    mod = await staff(srv, unique("mod"), "moderator")
    await mod.close()
    m, n = browsers(), browsers()
    newcomer = unique("new")
    await n.login(url, newcomer, PASSWORD)
    await n.until(lambda: n.visible("#pending-view"), what="the waiting screen")
    await m.login(url, mod.user, PASSWORD, register=False)
    await m.wait_chat()
    m.find("#open-mod").click()
    await m.until(lambda: newcomer in m.text("#pending-list"), what="the newcomer listed")
    await m.click(f'#pending-list button[aria-label="Admit {newcomer}"]')
    await n.wait_chat()
    await enter(n, "thanks for letting me in")
    await shows(n, "thanks for letting me in")


async def test_html_in_messages_and_file_names_renders_as_text(server, browsers, tmp_path) -> None:
    url = web_url(server)
    a = browsers()
    await a.login(url, unique("web"), PASSWORD)
    await a.wait_chat()
    hostile = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
    name = '<img src=x onerror="window.__pwned=3">.txt'
    (tmp_path / "f.txt").write_bytes(b"harmless")
    async with logged_in(server, unique("evil")) as evil:
        await evil.send("general", hostile)
        await evil.upload(tmp_path / "f.txt", "general", name=name, text=hostile)
        await shows(a, hostile)
        await a.until(lambda: len(a.find_all("button.download")) == 1, what="the offer")
    assert name in a.find("button.download").text
    assert a.find_all("#log img") == [] and a.find_all("#log script") == []
    assert a.driver.execute_script("return window.__pwned") is None


async def test_screenshots_and_the_narrow_layout(server, browsers, tmp_path) -> None:
    shots = DOCS_IMG if os.environ.get("ROOST_SCREENSHOTS") == "1" else tmp_path
    url = web_url(server)
    me, other = unique("maria"), unique("tom")
    made = run_cli("user", "add", other, "--priority", "urgent", "--data-dir", str(server.data_dir))
    assert made.returncode == 0, made.stderr
    a = browsers()
    await a.login(url, me, PASSWORD)
    await a.wait_chat()
    async with logged_in(server, other, register=False) as sdk:
        await sdk.join("design")
        await sdk.send("general", "Morning! The build is green again.", priority=2)
        await enter(a, "Great, I'll cut the release after lunch.")
        await sdk.send("general", "Server room is over temperature, check the AC", priority=0)
        await sdk.send("@" + me, "Can you review my change?")
        await shows(a, "Server room is over temperature, check the AC")
        await a.until(lambda: a.find_all("#dm-list .badge"), what="the DM badge")
        assert a.find_all("#log li.urgent")
        # Everything the page loaded came from the server itself.
        loaded = a.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert loaded and all(u.startswith(url.rstrip("/")) for u in loaded), loaded
        shots.mkdir(parents=True, exist_ok=True)
        a.viewport(1280, 800)
        assert a.driver.save_screenshot(str(shots / "web-1280x800.png"))
        a.viewport(360, 740)
        await a.until(lambda: a.visible("#toggle-nav"), what="the narrow layout")
        assert not a.visible("#nav")
        # Nothing wider than the phone's screen.
        width = a.driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 360
        assert a.driver.save_screenshot(str(shots / "web-360x740.png"))
        # Keyboard only: the rooms panel opens from its button and closes with Escape.
        a.find("#toggle-nav").send_keys(Keys.ENTER)
        await a.until(lambda: a.visible("#nav"), what="the rooms panel")
        assert a.find("#toggle-nav").get_attribute("aria-expanded") == "true"
        a.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        await a.until(lambda: not a.visible("#nav"), what="the panel closed")


async def test_the_login_form_waits_past_the_login_timeout(server_factory, browsers) -> None:
    srv = server_factory("slow", handshake_timeout=1.0)
    a = browsers()
    a.open(web_url(srv))
    await a.until(lambda: a.visible("#login-form"), what="the login form")
    a.find("#login-user").send_keys(unique("slow"))
    await asyncio.sleep(2.5)  # a person typing slowly; no connection is held meanwhile
    assert a.text("#login-error") == "" and not a.visible("#banner")
    a.find("#login-password").send_keys(PASSWORD)
    a.find("#login-register").click()
    a.find("#login-submit").click()
    await a.wait_chat()
    assert a.driver.execute_script("return document.activeElement.id") != "login-user"
