"""The web admin served by the bot's own web server, and a client that uses it as a browser would:
cookies kept, redirects looked at, forms posted with the CSRF token the page carries."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from bot.app import App
from core.operators import Operators
from tests.harness import DatabaseTarget, Harness, harness_for
from tests.platforms.telegram.conftest import api  # noqa: F401  (the Telegram Bot API double, a fixture)

OPERATOR = "ana"
PASSWORD = "correct horse battery"
WEB = {"enabled": True, "host": "127.0.0.1", "port": 0}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    text: str
    headers: Any

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))


class Browser:
    """Speaks HTTP to the admin the way a browser does, one page at a time."""

    def __init__(self, base: str, client: aiohttp.ClientSession) -> None:
        self.base = base
        self.client = client
        self.csrf = ""

    async def get(self, path: str) -> Answer:
        async with self.client.get(self.base + path, allow_redirects=False) as response:
            answer = Answer(response.status, await response.text(), response.headers)
        if found := CSRF.search(answer.text):
            self.csrf = found.group(1)
        return answer

    async def post(
        self, path: str, form: dict[str, str], *, csrf: bool = True, headers: dict[str, str] | None = None
    ) -> Answer:
        data = {**form, "csrf": self.csrf} if csrf else form
        async with self.client.post(
            self.base + path, data=data, headers=headers, allow_redirects=False
        ) as response:
            body = await response.read()  # a page, or a download
            return Answer(response.status, body.decode("utf-8", "replace"), response.headers)

    async def sign_in(
        self,
        name: str = OPERATOR,
        password: str = PASSWORD,
        next_: str = "/admin",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        await self.get(f"/admin/sign-in?next={next_}")
        form = {"name": name, "password": password, "next": next_}
        return await self.post("/admin/sign-in", form, headers=headers)


async def add_operator(app: App, name: str = OPERATOR, password: str = PASSWORD) -> None:
    """What `image2bot admin operator add` does."""
    await Operators(app.db).add(name, password, totp=False, actor="cli:root")


@asynccontextmanager
async def browsing(app: App) -> AsyncIterator[Browser]:
    """The app's web server started (with the admin mounted) and a browser pointed at it."""
    assert app.web is not None
    await app.web.start()
    async with browser_at(f"http://127.0.0.1:{app.web.port}") as browser:
        yield browser


@asynccontextmanager
async def browser_at(base: str) -> AsyncIterator[Browser]:
    """A browser of its own: no cookies yet."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1 (a bare address) are kept too
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        yield Browser(base, client)


@dataclass
class Desk:
    harness: Harness
    browser: Browser


@pytest_asyncio.fixture
async def desk(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Desk]:
    """The bot with the web admin, an operator, and a browser that has not signed in yet."""
    async with harness_for(database, tmp_path, web=WEB) as harness:
        await add_operator(harness.app)
        async with browsing(harness.app) as browser:
            yield Desk(harness, browser)
