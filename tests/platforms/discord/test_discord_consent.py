"""A newcomer on Discord accepts the terms with the button the gate shows (no /accept command needed)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.discord_api import DiscordDouble
from tests.platforms.discord.conftest import ALICE, answered, buttons, discord_bot, message_with, webhook


async def test_the_accept_button_opens_the_door_to_imagine(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path, privacy={"require_acceptance": True}) as bot:
        refused = bot.imagine("a castle")
        gate = await answered(bot.api, refused)
        [(_label, accept)] = buttons(gate)
        assert accept == "i2b:cmd:/accept"
        assert await bot.balance() == 0, "no trial before accepting, nothing reserved"

        accepted = bot.deliver(bot.api.press(message_with(bot.api, accept), accept, who=ALICE))
        await answered(bot.api, accepted)
        assert await bot.balance() > 0, "trial credits come with the acceptance"

        await bot.api.wait_for("POST", webhook(bot.imagine("a castle", aspect="16:9")))
