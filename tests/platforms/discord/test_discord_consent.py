"""A newcomer on Discord accepts the terms with the button the gate shows (no /accept command needed)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.discord_api import DiscordDouble
from tests.platforms.discord.conftest import ALICE, buttons, callback, discord_bot, webhook


async def test_the_accept_button_opens_the_door_to_imagine(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path, privacy={"require_acceptance": True}) as bot:
        refused = bot.imagine("a castle")
        [gate] = await bot.api.wait_for("POST", callback(refused))
        [(_label, accept)] = buttons(gate.body["data"])
        assert accept == "i2b:cmd:/accept"
        assert await bot.balance() == 0, "no trial before accepting, nothing reserved"

        accepted = bot.deliver(bot.api.press(bot.api.original(refused), accept, who=ALICE))
        await bot.api.wait_for("POST", callback(accepted))
        assert await bot.balance() > 0, "trial credits come with the acceptance"

        await bot.api.wait_for("POST", webhook(bot.imagine("a castle", aspect="16:9")))
