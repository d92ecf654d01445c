"""WeCom's callback URL as WeCom uses it: URL verification, encrypted messages, and what it refuses."""

from __future__ import annotations

import time
from collections.abc import Callable
from xml.etree import ElementTree

import pytest
from wechatpy.enterprise.crypto import WeChatCrypto

from core.i18n import translate
from tests.fakes.wecom_crypto import Callback, WeComCallbackCrypto, member_text
from tests.platforms.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, TOKEN, ZHANGSAN, WeComBot

BALANCE_TITLE = translate("en", "balance.total", total=100).split("100")[0]


def answers_to(bot: WeComBot, user: str = ZHANGSAN) -> list[str]:
    return [call.content for call in bot.api.of("message/send") if call.body["touser"] == user]


def built_by_our_crypto(xml: str) -> Callback:
    return WeComCallbackCrypto(TOKEN, AES_KEY, CORP_ID).message(xml)


def built_by_wechatpy(xml: str) -> Callback:
    envelope = ElementTree.fromstring(WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(xml, "nonce42"))
    query = {
        "msg_signature": envelope.findtext("MsgSignature") or "",
        "timestamp": envelope.findtext("TimeStamp") or "",
        "nonce": envelope.findtext("Nonce") or "",
    }
    body = f"<xml><Encrypt><![CDATA[{envelope.findtext('Encrypt')}]]></Encrypt></xml>"
    return Callback(query, body.encode())


async def test_saving_the_callback_url_is_answered_with_the_echo_only_when_signed_with_our_token(
    sqlite_bot: WeComBot,
) -> None:
    answer = await sqlite_bot.deliver(sqlite_bot.crypto.url_verification("echo-1234567890"), "GET")
    assert (answer.status, answer.text) == (200, "echo-1234567890")

    stranger = WeComCallbackCrypto("another-token", AES_KEY, CORP_ID)
    forged = await sqlite_bot.deliver(stranger.url_verification("echo-1234567890"), "GET")
    assert forged.status == 403
    assert "echo" not in forged.text


@pytest.mark.parametrize("build", [built_by_our_crypto, built_by_wechatpy])
async def test_a_member_message_is_acknowledged_at_once_then_answered(
    sqlite_bot: WeComBot, build: Callable[[str], Callback]
) -> None:
    answer = await sqlite_bot.deliver(build(member_text(CORP_ID, ZHANGSAN, "/balance", 1, AGENT_ID)))
    assert answer.status == 200

    await sqlite_bot.adapter.idle()
    [balance] = answers_to(sqlite_bot)
    assert balance.startswith(BALANCE_TITLE)


async def test_forged_and_foreign_callbacks_are_refused_and_nothing_in_them_is_used(
    sqlite_bot: WeComBot,
) -> None:
    xml = member_text(CORP_ID, ZHANGSAN, "/balance", 1, AGENT_ID)
    forged = sqlite_bot.crypto.message(xml, signature="0" * 40)
    other_corp = sqlite_bot.crypto.message(xml, corp_id="wwSomebodyElse")
    stale = sqlite_bot.crypto.message(xml, timestamp=int(time.time()) - 3600)
    garbled = Callback(forged.query, b"not xml at all")

    statuses = [
        (await sqlite_bot.deliver(callback)).status for callback in (forged, other_corp, stale, garbled)
    ]

    assert statuses == [403, 403, 403, 400]
    await sqlite_bot.say("/balance", msg_id=2)
    await sqlite_bot.adapter.idle()
    assert len(answers_to(sqlite_bot)) == 1, "only the genuine message was answered"


async def test_a_message_wecom_repeats_is_handled_once(sqlite_bot: WeComBot) -> None:
    first = await sqlite_bot.say("/balance", msg_id=555)
    again = await sqlite_bot.say("/balance", msg_id=555)  # WeCom retries when it heard nothing in 5 s

    assert (first.status, again.status) == (200, 200)
    await sqlite_bot.adapter.idle()
    assert len(answers_to(sqlite_bot)) == 1


async def test_a_message_for_another_app_of_the_corp_is_ignored(sqlite_bot: WeComBot) -> None:
    other_app = member_text(CORP_ID, ZHANGSAN, "/balance", 9, AGENT_ID + 1)
    assert (await sqlite_bot.deliver(sqlite_bot.crypto.message(other_app))).status == 200
    await sqlite_bot.adapter.idle()
    assert answers_to(sqlite_bot) == []
