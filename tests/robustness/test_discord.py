"""Bad input through the Discord door, fed to the real discord.py as gateway payloads: slash options,
attachments, and interactions Discord could only send for commands or buttons this version lacks.
Every one gets an answer only the asker sees, and the ledger does not move."""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.discord_api import DiscordDouble, discord_api  # noqa: F401  (a fixture)
from tests.harness import DatabaseTarget, harness_for
from tests.platforms.discord.conftest import (  # noqa: F401  (an autouse fixture)
    ALICE,
    DiscordBot,
    _public_discord_afterwards,
    answered,
    callback,
    door,
)
from tests.robustness.conftest import ledger
from tests.robustness.images import bomb, bomb_by_header, truncated_png
from tests.robustness.inputs import REFUSED, REFUSED_RAW, en

MAX_REFERENCE = 1024 * 1024


@asynccontextmanager
async def discord_bot(
    database: DatabaseTarget, tmp_path: Path, api: DiscordDouble
) -> AsyncIterator[DiscordBot]:
    """The door on the given database, no workers (a job that got through would stay queued)."""
    generation = {"max_reference_bytes": MAX_REFERENCE}
    async with (
        harness_for(database, tmp_path, run_workers=False, generation=generation) as harness,
        door(api, harness) as bot,
    ):
        yield bot


async def refusal(bot: DiscordBot, interaction: dict[str, Any]) -> str:
    """The answer to `interaction`, which must be seen by the asker alone."""
    answer = await answered(bot.api, interaction)
    assert answer["flags"] == 64
    return str(answer["content"])


async def test_bad_imagine_options_are_explained_and_cost_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    discord_api: DiscordDouble,  # noqa: F811
) -> None:
    async with discord_bot(database, tmp_path, discord_api) as bot:
        await refusal(bot, bot.imagine("--n 0"))  # the account and its trial exist from here on
        before = await ledger(bot.harness.app)
        for rest, expected in [*REFUSED, *REFUSED_RAW]:
            assert await refusal(bot, bot.imagine(rest)) == expected, repr(rest[:40])
        odd_choice = bot.imagine("a cat", aspect="99:1 --n 4")  # not one of the published choices
        assert await refusal(bot, odd_choice) == en("bad_ratio", value="99:1 --n 4")
        assert await ledger(bot.harness.app) == before


async def test_bad_reference_attachments_are_explained_and_cost_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    discord_api: DiscordDouble,  # noqa: F811
) -> None:
    api = discord_api
    cases = [
        ("huge.png", os.urandom(MAX_REFERENCE + 1), en("reference_too_large", name="huge.png", limit=1)),
        ("noise.png", os.urandom(2000), en("reference_not_image", name="noise.png")),
        ("half.png", truncated_png(), en("reference_not_image", name="half.png")),
        ("empty.png", b"", en("reference_not_image", name="empty.png")),
        (
            "tall.png",
            bomb_by_header(100_000, 100_000),
            en("reference_too_many_pixels", name="tall.png", limit=50),
        ),
        ("black.png", bomb(8000, 8000), en("reference_too_many_pixels", name="black.png", limit=50)),
    ]
    async with discord_bot(database, tmp_path, api) as bot:
        await refusal(bot, bot.imagine("--n 0"))
        before = await ledger(bot.harness.app)
        for name, data, expected in cases:
            attached = {"reference": api.attachment(data, name)}
            asked = bot.deliver(
                api.slash("imagine", {"prompt": "like this"}, attachments=attached, who=ALICE)
            )
            assert await refusal(bot, asked) == expected
        assert await ledger(bot.harness.app) == before


def _with_buttons(message: dict[str, Any], custom_ids: list[str]) -> dict[str, Any]:
    """A copy of one of our messages whose buttons carry `custom_ids`."""
    pressed = copy.deepcopy(message)
    row = [{"type": 2, "style": 2, "label": "·", "custom_id": custom_id} for custom_id in custom_ids]
    pressed["components"] = [{"type": 1, "components": row}]
    return pressed


async def test_stale_commands_missing_attachments_and_odd_buttons_are_answered(
    database: DatabaseTarget,
    tmp_path: Path,
    discord_api: DiscordDouble,  # noqa: F811
) -> None:
    api = discord_api
    async with discord_bot(database, tmp_path, api) as bot:
        menu = bot.deliver(api.slash("settings", who=ALICE))
        await answered(api, menu)
        before = await ledger(bot.harness.app)

        gone = bot.deliver(api.slash("nosuch", {"prompt": "a cat"}, who=ALICE))
        assert await refusal(bot, gone) == en("unknown_command", command="/nosuch")

        unresolved = api.slash("imagine", {"prompt": "a cat"}, who=ALICE)
        unresolved["data"]["options"].append({"name": "reference", "type": 11, "value": "123456"})
        assert await refusal(bot, bot.deliver(unresolved)) == en("reference_missing")

        presses = {
            "i2b:job:424242:reroll:1": en("job_not_found", job=424242),
            "i2b:job:1:sideways:1": en("button_expired"),
            "i2b:job:999999999999999999:vary:1": en("job_not_found", job=999999999999999999),
            "i2b:cmd:/imagine \u200b\u202e": en("empty_prompt"),
            "i2b:cmd:/nosuch": en("unknown_command", command="/nosuch"),
        }
        message = _with_buttons(api.original(menu), list(presses))
        for custom_id, expected in presses.items():
            pressed = bot.deliver(api.press(message, custom_id, who=ALICE))
            assert await refusal(bot, pressed) == expected, custom_id
        assert await ledger(bot.harness.app) == before
