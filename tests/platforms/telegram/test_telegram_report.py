"""`/report` on Telegram: the 🚩 Report button under a result and the typed command, in a group and
in private, in English and Chinese."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.db.models import SupportTicket
from core.i18n import translate
from tests.core.test_support_desk import AGENT, WECOM
from tests.fakes.chat import RecordingChat
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, BOB, GROUP, open_telegram_bot
from tests.platforms.telegram.test_telegram_buttons import button


async def test_the_report_button_and_command_open_one_ticket_for_the_owner_only(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    support = {"wecom_agents": [AGENT]}
    async with open_telegram_bot(database, tmp_path, api, wecom=WECOM, support=support) as bot:
        staff = RecordingChat("wecom")
        bot.harness.app.notifier.register(staff)
        await bot.say(f"/imagine@{bot.adapter.application.bot.username} a cat", chat=GROUP)
        [photo] = await api.wait_for("sendPhoto", chat_id=GROUP)
        report = button(photo.buttons(), translate("en", "report.button"))

        await bot.press(report, user=BOB, message_id=photo.message_id, chat=GROUP)
        refusal = api.of("answerCallbackQuery")[-1]
        assert refusal.fields["text"] == translate("en", "error.job_not_found", job=1)

        await bot.press(report, user=ALICE, message_id=photo.message_id, chat=GROUP)
        assert api.of("answerCallbackQuery")[-1].fields.get("text") is None
        opened = translate("en", "report.opened", job=1, ticket=1, credits=10)
        assert [call.fields["text"] for call in api.of("sendMessage", ALICE)] == [opened]
        assert api.of("sendMessage", GROUP)[-1].fields["text"] == translate("en", "private.sent")

        await bot.say("/report 1 还是很模糊", language="zh-CN")
        again = api.of("sendMessage", ALICE)[-1]
        assert again.fields["text"] == translate("zh-CN", "report.already", job=1, ticket=1)
        await bot.say("/反馈 abc", language="zh-CN")
        bad = api.of("sendMessage", ALICE)[-1]
        assert bad.fields["text"] == translate("zh-CN", "error.bad_job_id", value="abc")

        async with bot.harness.app.db.read() as session:
            [ticket] = (await session.scalars(select(SupportTicket))).all()
        assert (ticket.job_id, ticket.identity) == (1, f"telegram:{ALICE}")
        await bot.harness.app.notifier.drain()
        card, picture = staff.sent[AGENT]
        assert "Reported job #1" in card.text
        assert picture.media is not None
