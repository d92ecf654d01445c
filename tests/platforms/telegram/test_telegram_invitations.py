"""Invitations and codes through Telegram: /invite gives a t.me link that opens the bot with the code,
and opening it records the invitation; /redeem credits a code once."""

from __future__ import annotations

import re

from core.i18n import translate
from core.policy import ReferralSettings
from tests.fakes.telegram_api import BOT_USERNAME
from tests.platforms.telegram.conftest import ALICE, BOB, GROUP, TRIAL, TelegramBot


async def test_an_invitation_link_opens_the_bot_with_the_code_and_records_the_invitation(
    telegram_bot: TelegramBot,
) -> None:
    api = telegram_bot.api
    await telegram_bot.say(f"/invite@{BOT_USERNAME}", user=ALICE, chat=GROUP)
    [invitation] = [
        call.fields["text"] for call in api.of("sendMessage", ALICE)
    ]  # privately, not in the group
    link = re.search(rf"https://t\.me/{BOT_USERNAME}\?start=(ref-[A-Z0-9]{{8}})", invitation)
    assert link is not None, invitation

    await telegram_bot.say(f"/start {link.group(1)}", user=BOB, language="zh")  # what the link sends
    told = [call.fields["text"] for call in api.of("sendMessage", BOB)]
    credits = ReferralSettings().invitee_credits
    assert translate("zh-CN", "invite.accepted", credits=credits) in told
    assert await telegram_bot.balance(BOB) == TRIAL  # nothing for signing up


async def test_a_code_typed_in_telegram_credits_once(telegram_bot: TelegramBot) -> None:
    codes = telegram_bot.harness.app.core.services.codes
    code, _ = await codes.create(credits_each=30, uses=10, actor="cli:test")
    await telegram_bot.say(f"/redeem {code}")
    await telegram_bot.say(f"/兑换 {code}")
    [done, again] = [call.fields["text"] for call in telegram_bot.api.of("sendMessage", ALICE)]
    assert done == translate("en", "redeem.done", credits=30, balance=TRIAL + 30)
    assert again == translate("en", "error.redeem_already")
    assert await telegram_bot.balance() == TRIAL + 30
