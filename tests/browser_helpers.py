"""Headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, for web client tests."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class Browser:
    """One headless Chromium with a fresh profile and a download folder of its own."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="roost-chromium-"))
        self.downloads = self.profile / "downloads"
        self.downloads.mkdir()
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",  # we run as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-default-apps",
            "--disable-extensions",
            f"--user-data-dir={self.profile / 'profile'}",
            f"--window-size={width},{height}",
        ):
            opts.add_argument(arg)
        opts.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(self.downloads),
                "download.prompt_for_download": False,
            },
        )
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
        self.driver.set_script_timeout(20)
        self.viewport(width, height)

    def viewport(self, width: int, height: int) -> None:
        """Exact CSS viewport size (the window's outer size varies with the platform)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def open(self, url: str) -> None:
        self.driver.get(url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    async def until(
        self, cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition"
    ) -> Any:
        """The first true value of ``cond()``, polled while the event loop runs (SDK clients)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = cond()
                if value:
                    return value
            except Exception as exc:  # an element not there yet, or gone stale
                last = exc
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; console: {self.console()}") from last

    async def click(self, css: str, what: str = "") -> None:
        """Click the element once it is there (lists re-render as events come in)."""

        def go() -> bool:
            self.find(css).click()
            return True

        await self.until(go, what=what or css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def visible(self, css: str) -> bool:
        els = self.find_all(css)
        return bool(els) and els[0].is_displayed()

    def console(self) -> list[str]:
        try:
            return [e["message"] for e in self.driver.get_log("browser")]
        except Exception:
            return []

    async def login(self, url: str, user: str, password: str, register: bool = True) -> None:
        self.open(url)
        await self.until(lambda: self.visible("#login-form"), what="the login form")
        self.find("#login-user").send_keys(user)
        self.find("#login-password").send_keys(password)
        if register:
            self.find("#login-register").click()
        self.find("#login-submit").click()

    async def wait_chat(self) -> None:
        await self.until(lambda: self.visible("#chat-view"), what="the chat view")

    def log_texts(self) -> list[str]:
        return [li.text for li in self.find_all("#log li.msg .text")]

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
