"""Headless Chromium (the system's, through its own chromedriver) driven by Selenium, without blocking
the event loop the bot serves on: every WebDriver call runs in a thread."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 15
WINDOW = (1280, 900)
MAX_SHOT_HEIGHT = 2000
T = TypeVar("T")


def require_chromium() -> None:
    """Skips without the browser, unless IMAGE2BOT_REQUIRE_BROWSER=1 (CI), where its absence fails."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    missing = f"{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
    if os.environ.get("IMAGE2BOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"IMAGE2BOT_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(missing)


class Chromium:
    def __init__(self, driver: Any, base: str, screenshots: Path | None) -> None:
        self._driver = driver
        self.base = base
        self._screenshots = screenshots

    async def _call(self, action: Callable[[], T]) -> T:
        return await asyncio.to_thread(action)

    async def open(self, path: str) -> None:
        await self._call(lambda: self._driver.get(self.base + path))

    async def path(self) -> str:
        url = await self._call(lambda: self._driver.current_url)
        return str(url).removeprefix(self.base)

    async def fill(self, css: str, value: str) -> None:
        def fill() -> None:
            field = self._driver.find_element("css selector", css)
            field.clear()
            field.send_keys(value)

        await self._call(fill)

    async def submit(self, css: str) -> None:
        """Clicks a submit button and waits for the page it leads to."""

        def click() -> None:
            from selenium.webdriver.support.ui import WebDriverWait

            old = self._driver.find_element("css selector", "html")
            self._driver.find_element("css selector", css).click()
            WebDriverWait(self._driver, WAIT_S).until(lambda _driver: _stale(old))

        await self._call(click)

    async def click_link(self, text: str) -> None:
        def click() -> None:
            from selenium.webdriver.support.ui import WebDriverWait

            old = self._driver.find_element("css selector", "html")
            self._driver.find_element("link text", text).click()
            WebDriverWait(self._driver, WAIT_S).until(lambda _driver: _stale(old))

        await self._call(click)

    async def text(self, css: str) -> str:
        return str(await self._call(lambda: self._driver.find_element("css selector", css).text))

    async def texts(self, css: str) -> list[str]:
        return await self._call(lambda: [e.text for e in self._driver.find_elements("css selector", css)])

    async def screenshot(self, name: str) -> None:
        """Saved as `<name>.png` when screenshots are asked for (IMAGE2BOT_SCREENSHOTS=folder)."""
        if self._screenshots is None:
            return
        self._screenshots.mkdir(parents=True, exist_ok=True)
        path = self._screenshots / f"{name}.png"

        def shoot() -> None:
            """The whole page (up to a limit), WINDOW wide."""
            height = self._driver.execute_script("return document.documentElement.scrollHeight")
            self.viewport(WINDOW[0], min(max(int(height), WINDOW[1]), MAX_SHOT_HEIGHT))
            self._driver.save_screenshot(str(path))
            self.viewport(*WINDOW)

        await self._call(shoot)

    def viewport(self, width: int, height: int) -> None:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self._driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def _stale(element: Any) -> bool:
    """Whether the page `element` belonged to has been replaced (and the new one has loaded)."""
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:  # stale, or "does not belong to the document" while it is replaced
        driver = element.parent
        return bool(driver.execute_script("return document.readyState") == "complete")
    return False


@contextmanager
def chromium(base: str, profile: Path, *, screenshots: bool = True) -> Iterator[Chromium]:
    """`screenshots`: whether this run may write them (when IMAGE2BOT_SCREENSHOTS names a folder)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with the driver's path below: Selenium Manager stays idle
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        shots = os.environ.get("IMAGE2BOT_SCREENSHOTS")
        browser = Chromium(driver, base, Path(shots) if shots and screenshots else None)
        browser.viewport(*WINDOW)
        yield browser
    finally:
        driver.quit()
