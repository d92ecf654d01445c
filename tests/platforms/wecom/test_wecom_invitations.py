"""Codes and invitations typed in WeCom: the invitation is a code the invitee sends with /start or
/redeem (WeCom has no link that starts a chat with one); a credit code is redeemed once."""

from __future__ import annotations

import re

from core.i18n import translate
from core.policy import CreditSettings, ReferralSettings
from tests.fakes.wecom_crypto import member_text
from tests.platforms.wecom.conftest import AGENT_ID, CORP_ID, ZHANGSAN, WeComBot

LISI = "lisi"


def answers_to(bot: WeComBot, user: str) -> list[str]:
    return [call.content for call in bot.api.of("message/send") if call.body["touser"] == user]


async def say(bot: WeComBot, user: str, text: str, message_id: int) -> None:
    answer = await bot.deliver(bot.crypto.message(member_text(CORP_ID, user, text, message_id, AGENT_ID)))
    assert answer.status == 200
    await bot.adapter.idle()


async def test_an_invitation_typed_with_start_and_a_code_with_its_chinese_alias(sqlite_bot: WeComBot) -> None:
    await say(sqlite_bot, ZHANGSAN, "/邀请", 1)
    [invitation] = answers_to(sqlite_bot, ZHANGSAN)
    found = re.search(r"ref-[A-Z0-9]{8}", invitation)
    assert found is not None, invitation
    assert "https://" not in invitation

    await say(sqlite_bot, LISI, f"/start {found.group(0).lower()}", 2)
    accepted = translate("en", "invite.accepted", credits=ReferralSettings().invitee_credits)
    assert accepted in answers_to(sqlite_bot, LISI)

    code, _ = await sqlite_bot.harness.app.core.services.codes.create(credits_each=5, uses=3, actor="cli:t")
    await say(sqlite_bot, LISI, f"/兑换 {code}", 3)
    done = translate("en", "redeem.done", credits=5, balance=CreditSettings().trial + 5)
    assert answers_to(sqlite_bot, LISI)[-1] == done
