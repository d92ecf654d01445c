"""A Telegram user reaches support; the staff's answer from WeCom comes back through Telegram."""

from __future__ import annotations

from pathlib import Path

from core.i18n import translate
from core.messages import ChatRef, Incoming, UserRef
from tests.core.test_support_desk import WECOM
from tests.fakes.chat import RecordingChat
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, open_telegram_bot


async def test_a_staff_answer_arrives_in_the_telegram_chat_the_user_wrote_from(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with open_telegram_bot(
        database, tmp_path, api, wecom=WECOM, support={"wecom_agents": ["lisi"]}
    ) as bot:
        staff = RecordingChat("wecom")
        notifier = bot.harness.app.notifier
        notifier.register(staff)
        await bot.say("/support my image never arrived")
        await notifier.drain()
        [card] = staff.sent["lisi"]
        assert f"telegram:{ALICE}" in card.text

        lisi = UserRef("wecom", "lisi")
        await bot.harness.app.core.dispatch(
            Incoming(lisi, ChatRef("wecom", "user", "lisi"), "#1 sent it again")
        )
        await notifier.drain()

    answer = api.of("sendMessage", ALICE)[-1]
    assert answer.fields["text"] == translate("en", "support.replied", ticket=1, text="sent it again")
