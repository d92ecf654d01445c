"""A bot whose Discord door talks, through the real discord.py, to a local double of Discord's API.

The door's tests run on SQLite only: the door never touches the database, and the core's tests
cover both databases.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord.gateway import DiscordWebSocket

from core import credits
from core.policy import CreditSettings
from platforms.discord.adapter import DiscordAdapter
from tests.fakes.discord_api import TOKEN, DiscordDouble, discord_api, user  # noqa: F401  (a fixture)
from tests.harness import Harness, harness_for, sqlite_target

ALICE = user(900_000_000_000_000_001, "alice")
BOB = user(900_000_000_000_000_002, "bob")
TRIAL = CreditSettings().trial
WATCHED_LOGGERS = ("discord", "platforms", "asyncio")  # the door, its library, dropped tasks
QUIET_PROGRESS_S = 3600.0  # progress after the first edit waits longer than any test: nothing flaky


class _Errors(logging.Handler):
    """Errors the library only logs (a failing button callback, a dropped task)."""

    def __init__(self, into: list[BaseException | str]) -> None:
        super().__init__(logging.ERROR)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(record.getMessage())


@dataclass
class DiscordBot:
    """The whole bot with its Discord door; interactions arrive as the gateway would deliver them."""

    api: DiscordDouble
    adapter: DiscordAdapter
    harness: Harness
    errors: list[BaseException | str] = field(default_factory=list)

    def deliver(self, interaction: dict[str, Any]) -> dict[str, Any]:
        self.adapter.client._connection.parse_interaction_create(interaction)  # type: ignore[arg-type]
        return interaction

    def imagine(self, prompt: str, who: dict[str, Any] = ALICE, **options: Any) -> dict[str, Any]:
        where = {key: options.pop(key) for key in ("guild", "size_limit", "age", "locale") if key in options}
        return self.deliver(self.api.slash("imagine", {"prompt": prompt, **options}, who=who, **where))

    async def balance(self, who: dict[str, Any] = ALICE) -> int:
        account = await self.harness.app.core.services.accounts.find("discord", who["id"])
        assert account is not None
        async with self.harness.app.db.transaction() as session:
            return (await credits.balance(session, account.id)).total


@asynccontextmanager
async def discord_bot(
    api: DiscordDouble,
    data_dir: Path,
    *,
    progress_interval_s: float = QUIET_PROGRESS_S,
    **sections: Any,
) -> AsyncIterator[DiscordBot]:
    """The bot, logged in to the double (commands published); no gateway connection."""
    database = sqlite_target(data_dir)
    async with (
        harness_for(database, data_dir, **sections) as harness,
        door(api, harness, progress_interval_s=progress_interval_s) as bot,
    ):
        yield bot


@asynccontextmanager
async def door(
    api: DiscordDouble,
    harness: Harness,
    *,
    progress_interval_s: float = QUIET_PROGRESS_S,
) -> AsyncIterator[DiscordBot]:
    """A Discord door on a running harness; several in a row are restarts of the same bot."""
    adapter = DiscordAdapter(
        harness.app.core,
        token=TOKEN,
        api_base_url=api.api,
        progress_interval_s=progress_interval_s,
    )
    harness.app.notifier.register(adapter)
    bot = DiscordBot(api, adapter, harness)
    with watched(adapter, bot.errors):
        try:
            await adapter.login()
            yield bot
        finally:
            await adapter.stop()
    assert bot.errors == []


@contextmanager
def watched(adapter: DiscordAdapter, errors: list[BaseException | str]) -> Iterator[None]:
    """Collects into `errors` what commands raise and what the door or its library only log."""

    async def collect(_interaction: discord.Interaction, error: discord.app_commands.AppCommandError) -> None:
        errors.append(error)

    adapter.tree.on_error = collect  # type: ignore[method-assign]
    handler = _Errors(errors)
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).addHandler(handler)
    try:
        yield
    finally:
        for name in WATCHED_LOGGERS:
            logging.getLogger(name).removeHandler(handler)


@pytest.fixture(autouse=True)
def _public_discord_afterwards() -> Iterator[None]:
    """The door points discord.py's process-wide addresses at the double: point them back."""
    base, gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@pytest_asyncio.fixture
async def bot(discord_api: DiscordDouble, tmp_path: Path) -> AsyncIterator[DiscordBot]:  # noqa: F811
    async with discord_bot(discord_api, tmp_path) as running:
        yield running


def webhook(interaction: dict[str, Any], original: bool = False) -> str:
    """The route of an interaction's followups (or of its original answer)."""
    route = f"/webhooks/\\d+/{interaction['token']}"
    return route + "/messages/@original" if original else route


def callback(interaction: dict[str, Any]) -> str:
    return f"/interactions/{interaction['id']}/{interaction['token']}/callback"


async def answered(api: DiscordDouble, interaction: dict[str, Any]) -> dict[str, Any]:
    """What the asker reads as the interaction's answer, once it is there. Every interaction is
    deferred first, then the deferral is edited into the answer, or replaced by a followup (a refusal
    after a deferral everyone saw; a press that leaves its message as it was). `flags` say who sees
    it (for an edit, the deferral decided); `in_place` is True when a press changed its own message."""
    [first] = await api.wait_for("POST", callback(interaction))
    kind, data = first.body["type"], first.body.get("data") or {}
    if kind in (4, 7):  # answered at once (a door that needs nothing from the core)
        return {**data, "flags": data.get("flags", 0), "in_place": kind == 7}
    assert kind in (5, 6), first.body

    def first_answer() -> dict[str, Any] | None:
        followups = api.requests("POST", webhook(interaction))
        edits = api.requests("PATCH", webhook(interaction, original=True))
        done = sorted((call for call in (*followups, *edits) if call.status < 300), key=lambda c: c.at)
        if not done:
            return None
        call = done[0]
        if call.method == "POST":
            return {**call.body, "flags": call.body.get("flags", 0), "in_place": False}
        return {**call.body, "flags": data.get("flags", 0), "in_place": kind == 6}

    return await api.until(first_answer)


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, custom_id) of every button on a message, row by row."""
    return [(item["label"], item["custom_id"]) for row in message["components"] for item in row["components"]]


def message_with(api: DiscordDouble, custom_id: str) -> dict[str, Any]:
    """The latest message that carries the button `custom_id`."""
    return next(
        message
        for message in reversed(list(api.messages.values()))
        if custom_id in [custom for _, custom in buttons(message)]
    )
