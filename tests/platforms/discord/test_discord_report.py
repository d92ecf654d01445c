"""`/report` on Discord: the 🚩 Report button under a result and the slash command, in English and Chinese."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.db.models import SupportTicket
from core.i18n import translate
from tests.core.test_support_desk import AGENT, WECOM
from tests.fakes.chat import RecordingChat
from tests.fakes.discord_api import DiscordDouble
from tests.platforms.discord.conftest import ALICE, BOB, answered, discord_bot, message_with, webhook

REPORT = "i2b:cmd:/report 1"


async def test_the_report_button_and_slash_command_open_one_ticket_for_the_owner_only(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    support = {"wecom_agents": [AGENT]}
    async with discord_bot(discord_api, tmp_path, wecom=WECOM, support=support) as bot:
        staff = RecordingChat("wecom")
        bot.harness.app.notifier.register(staff)
        await bot.api.wait_for("POST", webhook(bot.imagine("a castle")))
        result = message_with(bot.api, REPORT)
        assert ("🚩 Report", REPORT) in [
            (button["label"], button["custom_id"])
            for row in result["components"]
            for button in row["components"]
        ]

        theirs = bot.deliver(bot.api.press(result, REPORT, who=BOB))
        refusal = await answered(bot.api, theirs)
        assert (refusal["flags"], refusal["content"]) == (64, translate("en", "error.job_not_found", job=1))

        mine = bot.deliver(bot.api.press(result, REPORT, who=ALICE))
        opened = await answered(bot.api, mine)
        assert opened["flags"] == 64, "only the one who reported sees it"
        assert opened["content"] == translate("en", "report.opened", job=1, ticket=1, credits=10)

        typed = bot.deliver(
            bot.api.slash("report", {"job": 1, "reason": "太模糊了"}, who=ALICE, locale="zh-CN")
        )
        again = await answered(bot.api, typed)
        assert again["content"] == translate("zh-CN", "report.already", job=1, ticket=1)

        unknown = bot.deliver(bot.api.slash("report", {"job": 7}, who=ALICE, locale="zh-CN"))
        refused = await answered(bot.api, unknown)
        assert refused["content"] == translate("zh-CN", "error.job_not_found", job=7)

        async with bot.harness.app.db.read() as session:
            [ticket] = (await session.scalars(select(SupportTicket))).all()
        assert (ticket.job_id, ticket.identity) == (1, f"discord:{ALICE['id']}")
        assert await bot.balance() == await bot.balance(BOB) - 10, "reporting charges nothing"
