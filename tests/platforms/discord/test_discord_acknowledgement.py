"""Discord's 3 seconds: every interaction is acknowledged before the core runs for it, and a burst
through the gateway is acknowledged in time, as the Discord double measures it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.commands.router import Core
from core.i18n import translate
from platforms.discord.adapter import DiscordAdapter
from tests.fakes.discord_api import TOKEN, DiscordDouble, user
from tests.harness import harness_for, sqlite_target
from tests.platforms.discord.conftest import (
    ALICE,
    TRIAL,
    DiscordBot,
    answered,
    callback,
    message_with,
    watched,
    webhook,
)

DEADLINE_S = 3.0  # Discord fails an interaction not acknowledged by then
BURST_USERS = 50
BURST_EACH = 4  # the trial buys four 1K images


@dataclass
class HeldCore:
    """The core's entry points behind a gate: what Discord had acknowledged when a request entered."""

    open: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    acknowledged_on_entry: list[set[str]] = field(default_factory=list)


@contextmanager
def held(core: Core, api: DiscordDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldCore]:
    gate = HeldCore()

    def gated(entry: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(entry)
        async def waiting(*args: Any, **kwargs: Any) -> Any:
            gate.acknowledged_on_entry.append(set(api.acknowledgements()))
            gate.entered.set()
            await gate.open.wait()
            return await entry(*args, **kwargs)

        return waiting

    for name in ("dispatch", "on_action", "refuse"):
        monkeypatch.setattr(core, name, gated(getattr(core, name)))
    yield gate


async def _first_acknowledged_then_answered(
    bot: DiscordBot, interaction: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Delivers `interaction` with the core held; returns its answer once the core is let go."""
    with held(bot.harness.app.core, bot.api, monkeypatch) as core:
        bot.deliver(interaction)
        await asyncio.wait_for(core.entered.wait(), 30)
        [acknowledged] = core.acknowledged_on_entry
        assert interaction["token"] in acknowledged, "the core ran before Discord was answered"
        assert bot.api.requests("POST", webhook(interaction)) == []
        assert bot.api.requests("PATCH", webhook(interaction, original=True)) == []
        core.open.set()
        return await answered(bot.api, interaction)


async def test_a_slash_command_is_acknowledged_before_the_core_runs(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = bot.api.slash("imagine", {"prompt": "a castle"}, who=ALICE)
    answer = await _first_acknowledged_then_answered(bot, asked, monkeypatch)
    assert bot.api.requests("POST", callback(asked))[0].body == {"type": 5}  # everyone sees "thinking"
    assert answer["content"].startswith("Job #1 queued (position 1)")
    assert answer["flags"] == 0


async def test_a_private_answer_is_deferred_for_the_asker_alone(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = bot.api.slash("balance", who=ALICE)
    answer = await _first_acknowledged_then_answered(bot, asked, monkeypatch)
    assert bot.api.requests("POST", callback(asked))[0].body == {"type": 5, "data": {"flags": 64}}
    assert answer["content"].startswith(translate("en", "balance.total", total=TRIAL))
    assert answer["flags"] == 64


async def test_button_presses_are_acknowledged_before_the_core_runs(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.api.wait_for("POST", webhook(bot.imagine("a castle")))
    result = message_with(bot.api, "i2b:job:1:reroll:1")

    reroll = bot.api.press(result, "i2b:job:1:reroll:1", who=ALICE)
    again = await _first_acknowledged_then_answered(bot, reroll, monkeypatch)
    assert bot.api.requests("POST", callback(reroll))[0].body == {"type": 5}
    assert again["content"].startswith("Job #2 queued")

    original = bot.api.press(result, "i2b:cmd:/original 1 1", who=ALICE)
    sent = await _first_acknowledged_then_answered(bot, original, monkeypatch)
    assert bot.api.requests("POST", callback(original))[0].body == {"type": 6}  # the result stays as it is
    assert (sent["flags"], sent["content"]) == (64, translate("en", "original.caption", job=1, index=1))


async def test_a_burst_through_the_gateway_is_acknowledged_within_the_deadline(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    people = [user(910_000_000_000_000_000 + number, f"user{number}") for number in range(BURST_USERS)]
    burst = [
        discord_api.slash("imagine", {"prompt": f"a paper boat, take {take}"}, who=who)
        for take in range(BURST_EACH)
        for who in people
    ]
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False) as harness:
        adapter = DiscordAdapter(harness.app.core, token=TOKEN, api_base_url=discord_api.api)
        errors: list[BaseException | str] = []
        with watched(adapter, errors):
            serving = asyncio.create_task(adapter.start())
            try:
                await discord_api.wait_identified(1)
                for interaction in burst:
                    await discord_api.dispatch("INTERACTION_CREATE", interaction)
                queued = await discord_api.until(lambda: _queued(discord_api, burst))
            finally:
                await adapter.stop()
                await asyncio.wait_for(serving, 20)  # start() returns once stopped
        assert errors == []

    acknowledged = discord_api.acknowledgements()
    late = {
        token: acknowledged[token].at - sent
        for token, sent in discord_api.dispatched.items()
        if acknowledged[token].at - sent > DEADLINE_S
    }
    assert late == {}, f"{len(late)} of {len(burst)} acknowledged too late"
    assert {(call.status, call.body["type"]) for call in acknowledged.values()} == {(200, 5)}
    assert len(queued) == len(burst)  # and each then shows its job's place in the queue


def _queued(api: DiscordDouble, burst: list[dict[str, Any]]) -> list[str] | None:
    """The interactions whose answer shows a queued job, once all of them do."""
    edited = {
        call.path.split("/")[3]
        for call in api.requests("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")
        if call.status < 300 and " queued " in call.body.get("content", "")
    }
    tokens = [interaction["token"] for interaction in burst]
    return tokens if edited.issuperset(tokens) else None
