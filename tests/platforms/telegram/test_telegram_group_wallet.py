"""A group wallet on Telegram: the chat's administrators (as getChatMember tells) turn it on and set a
quota; members' `/imagine` in the group spends from it until the quota, then they are told when it
starts again; anyone else is refused in their language."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core import credits
from core.db.types import utcnow
from core.groups import DAY, ResetTime, day_start
from core.i18n import translate
from core.messages import ChatRef
from tests.fakes.telegram_api import BOT_USERNAME, TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, BOB, GROUP, TRIAL, TelegramBot, open_telegram_bot
from tests.platforms.telegram.test_telegram_stars import PACKS

LI = 44  # a member who reads Chinese


def group_texts(telegram_bot: TelegramBot) -> list[str]:
    return [call.fields["text"] for call in telegram_bot.api.of("sendMessage", GROUP)]


async def test_an_admin_turns_the_wallet_on_and_a_member_spends_from_it_until_the_quota(
    telegram_bot: TelegramBot,
) -> None:
    api, bot = telegram_bot.api, f"@{BOT_USERNAME}"
    api.admins[GROUP].add(ALICE)

    await telegram_bot.say(f"/group{bot} wallet on", user=BOB, chat=GROUP)
    await telegram_bot.say(f"/group{bot} quota 1", user=LI, chat=GROUP, language="zh")
    assert group_texts(telegram_bot) == [
        translate("en", "error.group_admins_only"),
        translate("zh-CN", "error.group_admins_only"),
    ]
    asked = [(call.fields["chat_id"], call.fields["user_id"]) for call in api.of("getChatMember")]
    assert asked == [(GROUP, BOB), (GROUP, LI)]

    await telegram_bot.say(f"/group{bot} wallet on", user=ALICE, chat=GROUP)
    await telegram_bot.say(f"/group{bot} quota 1", user=ALICE, chat=GROUP)
    assert group_texts(telegram_bot)[2:] == [
        translate("en", "group.wallet_on"),
        translate("en", "group.quota_set", images=1),
    ]
    services = telegram_bot.harness.app.core.services
    wallet = await services.groups.wallet_of(ChatRef("telegram", "supergroup", str(GROUP)))
    assert wallet is not None
    async with telegram_bot.harness.app.db.transaction() as session:
        await credits.grant(session, wallet, 50, kind=credits.EntryKind.ADMIN_GRANT, key="fund")

    await telegram_bot.say(f"/imagine{bot} a cat", user=BOB, chat=GROUP)
    await api.wait_for("sendPhoto", chat_id=GROUP)
    await telegram_bot.say(f"/imagine{bot} another cat", user=BOB, chat=GROUP)

    resets = ResetTime(day_start(utcnow()) + DAY, "UTC")
    assert group_texts(telegram_bot)[-1] == translate(
        "en", "error.group_quota", quota=1, used=1, reset=resets
    )
    assert await telegram_bot.balance(BOB) == TRIAL, "the member's own credits are untouched"
    async with telegram_bot.harness.app.db.read() as session:
        assert (await credits.balance(session, wallet)).total == 40


async def test_stars_paid_in_the_group_top_up_its_wallet_once(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with open_telegram_bot(database, tmp_path, api, stars=True, stripe={"packs": PACKS}) as shop:
        api.admins[GROUP].add(ALICE)
        await shop.say(f"/group@{BOT_USERNAME} wallet on", user=ALICE, chat=GROUP)
        payment = {
            "currency": "XTR",
            "total_amount": 350,
            "invoice_payload": "stars:starter",
            "telegram_payment_charge_id": "charge-g1",
            "provider_payment_charge_id": "",
        }
        await asyncio.gather(
            *(shop.say(None, user=BOB, chat=GROUP, successful_payment=payment) for _ in range(3))
        )
        await shop.harness.app.notifier.drain()

        wallet = await shop.harness.app.core.services.groups.wallet_of(
            ChatRef("telegram", "supergroup", str(GROUP))
        )
        assert wallet is not None
        async with shop.harness.app.db.read() as session:
            assert (await credits.balance(session, wallet)).total == 500
        told = translate("en", "group.topped_up", credits=500, balance=500)
        assert [call.fields["text"] for call in api.of("sendMessage", BOB)].count(told) == 1, (
            "the buyer, privately"
        )
        assert told not in group_texts(shop)
        await shop.harness.assert_ledger_consistent()
