"""Times and statuses through the Telegram door as people in China and elsewhere read them: in their
language, in their time zone (chosen with /settings tz, else the one of their language)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from sqlalchemy import update

from core.db.models import Job, Payment
from core.i18n import translate
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, BOB, TelegramBot, open_telegram_bot
from tests.platforms.telegram.test_telegram_stars import PACKS, pay

CHINESE = "zh-hans"  # what Telegram sends as the language of a user whose app is in Simplified Chinese
THREE_AM_UTC = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
LATE_EVENING_UTC = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)  # already Dec 5 in China


@pytest_asyncio.fixture
async def bot(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> AsyncIterator[TelegramBot]:
    async with open_telegram_bot(database, tmp_path, api, stars=True, stripe={"packs": PACKS}) as running:
        yield running


def last_text(bot: TelegramBot, user: int) -> str:
    return str(bot.api.of("sendMessage", user)[-1].fields["text"])


async def draw_one_at_three_am(bot: TelegramBot, user: int, language: str) -> None:
    """An image drawn and delivered through the door, its job then dated 03:00 UTC."""
    await bot.say("/imagine a red fox in snow", user=user, language=language)
    await bot.api.wait_for("sendPhoto", chat_id=user)
    async with bot.harness.app.db.transaction() as session:
        await session.execute(update(Job).values(created_at=THREE_AM_UTC, finished_at=THREE_AM_UTC))


async def test_history_follows_the_chosen_zone_in_english(bot: TelegramBot) -> None:
    await draw_one_at_three_am(bot, ALICE, "en")

    await bot.say("/history")
    before = last_text(bot, ALICE).splitlines()
    assert before[1].endswith("Dec 5, 2026, 3:00\u202fAM"), before
    assert before[-1] == translate("en", "local_time.zone_note", zone="UTC")

    await bot.say("/settings tz Asia/Shanghai")
    saved = last_text(bot, ALICE)
    assert saved.startswith(translate("en", "settings.saved"))
    assert translate("en", "local_time.setting", zone="Asia/Shanghai (UTC+8)") in saved

    await bot.say("/history")
    after = last_text(bot, ALICE).splitlines()
    assert after[1].startswith(f"✅ #1 {translate('en', 'status.succeeded')} · ")
    assert after[1].endswith("Dec 5, 2026, 11:00\u202fAM"), after
    assert after[-1] == translate("en", "local_time.zone_note", zone="Asia/Shanghai (UTC+8)")


async def test_a_chinese_user_reads_china_time_without_choosing_it(bot: TelegramBot) -> None:
    await draw_one_at_three_am(bot, BOB, CHINESE)

    await bot.say("/history", user=BOB, language=CHINESE)
    lines = last_text(bot, BOB).splitlines()
    assert lines[0] == translate("zh-CN", "history.title")
    assert lines[1].startswith("✅ #1 已完成 · ")
    assert lines[1].endswith("2026年12月5日 11:00"), lines
    assert "UTC " not in lines[1]
    assert lines[-1] == translate("zh-CN", "local_time.zone_note", zone="Asia/Shanghai (UTC+8)")

    await bot.say("/settings", user=BOB, language=CHINESE)
    shown = last_text(bot, BOB)
    assert shown.endswith(translate("zh-CN", "local_time.setting_default", zone="Asia/Shanghai (UTC+8)"))

    await bot.say("/settings tz UTC", user=BOB, language=CHINESE)
    await bot.say("/history", user=BOB, language=CHINESE)
    assert last_text(bot, BOB).splitlines()[1].endswith("2026年12月5日 03:00")


async def test_invoices_show_local_dates_and_translated_statuses(bot: TelegramBot) -> None:
    await bot.say("/balance", user=BOB, language=CHINESE)
    await pay(bot, "charge-en")  # from ALICE
    await pay_as(bot, BOB, "charge-zh")
    async with bot.harness.app.db.transaction() as session:
        await session.execute(update(Payment).values(created_at=LATE_EVENING_UTC))
        await session.execute(
            update(Payment).where(Payment.reference == "charge-zh").values(status="refunded")
        )

    await bot.say("/invoices", user=BOB, language=CHINESE)
    title, line, note = last_text(bot, BOB).splitlines()
    assert title == translate("zh-CN", "invoices.title")
    assert line.startswith("2026年12月5日 · "), line
    assert line.endswith(" · 500 积分 · 已退款"), line
    assert note == translate("zh-CN", "local_time.zone_note", zone="Asia/Shanghai (UTC+8)")

    await bot.say("/invoices")
    title, line, note = last_text(bot, ALICE).splitlines()
    assert title == translate("en", "invoices.title")
    assert line.startswith("Dec 4, 2026 · "), line
    assert line.endswith(" · 500 credits · paid"), line
    assert note == translate("en", "local_time.zone_note", zone="UTC")


async def pay_as(bot: TelegramBot, user: int, charge_id: str) -> None:
    payment = {
        "currency": "XTR",
        "total_amount": 350,
        "invoice_payload": "stars:starter",
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    await bot.say(None, user=user, language=CHINESE, successful_payment=payment)


async def test_a_mistyped_zone_gets_a_suggestion_and_changes_nothing(bot: TelegramBot) -> None:
    await bot.say("/settings tz Asia/Shangai")
    assert last_text(bot, ALICE) == translate(
        "en", "error.unknown_zone_suggest", value="Asia/Shangai", suggestion="Asia/Shanghai"
    )
    await bot.say("/settings tz 火星", user=BOB, language=CHINESE)
    assert last_text(bot, BOB) == translate("zh-CN", "error.unknown_zone", value="火星")
    await bot.say("/settings tz asia/shanghia", user=BOB, language=CHINESE)
    assert last_text(bot, BOB) == translate(
        "zh-CN", "error.unknown_zone_suggest", value="asia/shanghia", suggestion="Asia/Shanghai"
    )

    await bot.say("/settings")
    assert last_text(bot, ALICE).endswith(translate("en", "local_time.setting_default", zone="UTC"))
