"""A group wallet on Discord: members with Manage Server (from the interaction's permissions) turn it
on and set a quota; members' `/imagine` in the server's channel spends from it until the quota."""

from __future__ import annotations

from core import credits
from core.db.types import utcnow
from core.groups import DAY, ResetTime, day_start
from core.i18n import translate
from core.messages import ChatRef
from tests.fakes.discord_api import CHANNEL_ID, user
from tests.platforms.discord.conftest import ALICE, BOB, TRIAL, DiscordBot, answered

MANAGE_GUILD = 1 << 5
LI = user(900_000_000_000_000_003, "li")


async def group(bot: DiscordBot, who: dict[str, object], permissions: int = 0, **options: str) -> str:
    asked = bot.deliver(bot.api.slash("group", options, who=who, permissions=permissions, locale="en-US"))
    return str((await answered(bot.api, asked))["content"])


async def test_a_manager_turns_the_wallet_on_and_a_member_spends_from_it_until_the_quota(
    bot: DiscordBot,
) -> None:
    assert await group(bot, BOB, setting="wallet", value="on") == translate("en", "error.group_admins_only")
    asked = bot.deliver(bot.api.slash("group", {"setting": "quota", "value": "1"}, who=LI, locale="zh-CN"))
    assert (await answered(bot.api, asked))["content"] == translate("zh-CN", "error.group_admins_only")

    assert await group(bot, ALICE, MANAGE_GUILD, setting="wallet", value="on") == translate(
        "en", "group.wallet_on"
    )
    assert await group(bot, ALICE, MANAGE_GUILD, setting="quota", value="1") == translate(
        "en", "group.quota_set", images=1
    )
    wallet = await bot.harness.app.core.services.groups.wallet_of(
        ChatRef("discord", "guild", str(CHANNEL_ID))
    )
    assert wallet is not None
    async with bot.harness.app.db.transaction() as session:
        await credits.grant(session, wallet, 50, kind=credits.EntryKind.ADMIN_GRANT, key="fund")

    first = await answered(bot.api, bot.imagine("a cat", who=BOB))
    assert str(first["content"]).startswith("Job #1 queued")
    refused = await answered(bot.api, bot.imagine("another cat", who=BOB))
    resets = ResetTime(day_start(utcnow()) + DAY, "UTC")
    assert refused["content"] == translate("en", "error.group_quota", quota=1, used=1, reset=resets)
    assert await bot.balance(BOB) == TRIAL, "the member's own credits are untouched"
