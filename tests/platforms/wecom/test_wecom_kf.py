"""WeCom customer service as an external WeChat user sees it: answers within WeCom's reply window,
nothing lost or repeated across a restart, and a person when they ask for one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.i18n import translate
from core.privacy.settings import PrivacySettings
from tests.fakes.gated_provider import GatedProvider
from tests.fakes.wecom_api import KF_TIME_LIMIT, Call, WeComAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.wecom.conftest import CUSTOMER, OPEN_KFID, WeComBot, open_wecom_bot

BALANCE = translate("en", "balance.total", total=0).split("0")[0]
NO_HISTORY = translate("en", "history.empty")

CONTACT = PrivacySettings().contact  # no support desk is staffed here: users are sent there


def to_customer(msgtype: str) -> Callable[[Call], bool]:
    return lambda call: call.body.get("touser") == CUSTOMER and call.msgtype == msgtype


def answers(api: WeComAPIDouble) -> list[str]:
    return [call.content for call in api.of("kf/send_msg", where=to_customer("text"))]


async def test_a_customer_message_is_pulled_and_answered_through_customer_service(
    wecom_bot: WeComBot,
) -> None:
    api = wecom_bot.api
    await wecom_bot.customer_says(text={"content": "/balance"})

    pulls = [call for call in api.of("kf/sync_msg") if call.body.get("token")]
    assert [call.body["open_kfid"] for call in pulls] == [OPEN_KFID]
    [answer] = api.of("kf/send_msg")
    assert answer.body["open_kfid"] == OPEN_KFID
    assert answer.body["touser"] == CUSTOMER
    assert answer.content.startswith(BALANCE)
    accounts = wecom_bot.harness.app.core.services.accounts
    assert await accounts.find("wecom-kf", CUSTOMER) is not None


async def test_messages_are_neither_lost_nor_repeated_across_a_restart(
    database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble
) -> None:
    async with open_wecom_bot(database, tmp_path, api) as bot:
        await bot.customer_says(text={"content": "/balance"})
    api.customer_writes(OPEN_KFID, CUSTOMER, text={"content": "/history"})  # the bot is down: no callback

    async with open_wecom_bot(database, tmp_path, api) as bot:
        await bot.adapter.idle()  # pulled at start
        await bot.kf_callback()  # and nothing again on the next callback

    [balance, history] = answers(api)
    assert balance.startswith(BALANCE)
    assert history == NO_HISTORY


async def test_a_result_refused_by_the_closed_reply_window_is_delivered_after_the_next_message(
    database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble
) -> None:
    provider = GatedProvider()
    async with open_wecom_bot(database, tmp_path, api, provider=provider) as bot:
        await bot.customer_says(text={"content": "/imagine a cat"})
        await provider.wait_started(1)
        api.expire_kf_window(CUSTOMER)  # 48 hours pass before the image is ready
        provider.release(provider.started[0])
        [refused] = await api.wait_for("kf/send_msg", ok=False, where=to_customer("image"))
        assert refused.answer["errcode"] == KF_TIME_LIMIT
        assert not api.of("kf/send_msg", where=to_customer("image"))
        await bot.harness.app.notifier.drain()  # the refusal is recorded before the customer writes

        await bot.customer_says(text={"content": "/balance"})

        [delivered] = await api.wait_for("kf/send_msg", where=to_customer("image"))
        assert api.media[delivered.media_id]
        await api.wait_for("kf/send_msg", 3, where=to_customer("text"))
    queued, *rest = answers(api)
    assert "queued" in queued
    job = queued.split("#")[1].split()[0]
    assert any("a cat" in text and f"reroll {job}" in text for text in rest), (
        "the caption and actions came too"
    )
    assert not any("drawing" in text for text in answers(api)), "customers get no 'started' message"


async def test_support_hands_the_customer_to_a_person_until_the_person_ends_the_session(
    wecom_bot: WeComBot,
) -> None:
    api = wecom_bot.api
    await wecom_bot.customer_says(text={"content": "/support my image failed twice"})

    [handover] = api.of("kf/service_state/trans")
    assert handover.body == {"open_kfid": OPEN_KFID, "external_userid": CUSTOMER, "service_state": 2}
    await wecom_bot.customer_says(text={"content": "/balance"})  # for the person now, not the bot
    assert answers(api) == []

    api.agent_ends_session(OPEN_KFID, CUSTOMER, servicer="agent01")
    await wecom_bot.kf_callback()
    await wecom_bot.customer_says(text={"content": "/balance"})

    [answer] = answers(api)
    assert answer.startswith(BALANCE)


async def test_support_goes_to_the_support_desk_when_wecom_cannot_hand_over(wecom_bot: WeComBot) -> None:
    wecom_bot.api.fail_next("kf/service_state/trans", 95016)

    await wecom_bot.customer_says(text={"content": "/support my image failed twice"})

    assert answers(wecom_bot.api) == [
        translate("en", "support.kept_write_by_email", ticket=1, contact=CONTACT)
    ]
