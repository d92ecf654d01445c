"""Delivery through WeCom's API as it behaves: tokens that expire, rate limits, members who left."""

from __future__ import annotations

import logging

import pytest

from core.errors import ChatUnreachable
from core.messages import ChatRef, text
from platforms.wecom.client import WeComError
from platforms.wecom.render import member_chat
from tests.platforms.wecom.conftest import AES_KEY, SECRET, TOKEN, ZHANGSAN, WeComBot


def contents(bot: WeComBot, api: str = "message/send") -> list[str]:
    return [call.content for call in bot.api.of(api)]


async def test_an_expired_access_token_is_replaced_and_the_message_still_goes(sqlite_bot: WeComBot) -> None:
    api = sqlite_bot.api
    await sqlite_bot.adapter.send(member_chat(ZHANGSAN), text("first"))
    await sqlite_bot.adapter.idle()  # the start-up catch-up of customer messages uses the token too
    tokens_before = len(api.of("gettoken"))
    api.expire_tokens()

    await sqlite_bot.adapter.send(member_chat(ZHANGSAN), text("second"))

    assert contents(sqlite_bot) == ["first", "second"]
    assert len(api.of("gettoken")) == tokens_before + 1
    [refused] = [call for call in api.of("message/send", ok=False) if not call.ok]
    assert refused.answer["errcode"] == 42001


async def test_a_token_refused_again_after_a_refresh_is_not_refreshed_in_a_loop(sqlite_bot: WeComBot) -> None:
    api = sqlite_bot.api
    await sqlite_bot.adapter.send(member_chat(ZHANGSAN), text("hello"))
    tokens_before = len(api.of("gettoken"))
    api.fail_next("message/send", 40014, 40014)

    with pytest.raises(WeComError) as refused:
        await sqlite_bot.adapter.send(member_chat(ZHANGSAN), text("again"))

    assert refused.value.errcode == 40014
    assert len(api.of("gettoken")) == tokens_before + 1
    assert "access_token" not in str(refused.value)


async def test_a_rate_limited_send_is_retried_after_a_pause(sqlite_bot: WeComBot) -> None:
    sqlite_bot.api.fail_next("message/send", 45009)

    await sqlite_bot.adapter.send(member_chat(ZHANGSAN), text("patience"))

    assert contents(sqlite_bot) == ["patience"]
    assert len(sqlite_bot.api.of("message/send", ok=False)) == 2


async def test_a_member_the_app_cannot_reach_makes_the_chat_unreachable(sqlite_bot: WeComBot) -> None:
    sqlite_bot.api.unknown_members.add("lisi")
    with pytest.raises(ChatUnreachable):
        await sqlite_bot.adapter.send(member_chat("lisi"), text("hello"))


async def test_a_group_chat_gets_its_messages_through_appchat(sqlite_bot: WeComBot) -> None:
    long_line = "工单" * 700  # 4200 bytes of UTF-8: more than one WeCom text holds

    await sqlite_bot.adapter.send(
        ChatRef("wecom", "group", "wrSupportDesk"), text(f"#12 new ticket\n{long_line}")
    )

    calls = sqlite_bot.api.of("appchat/send")
    assert {call.body["chatid"] for call in calls} == {"wrSupportDesk"}
    assert len(calls) > 2
    assert all(len(call.content.encode()) <= 2048 for call in calls)
    assert "".join(call.content for call in calls).replace("\n", "") == f"#12 new ticket{long_line}"


async def test_logs_name_neither_members_nor_what_they_wrote_nor_any_secret(
    sqlite_bot: WeComBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = sqlite_bot.api
    api.expire_tokens()
    api.fail_next("message/send", 45009)
    api.unknown_members.add("lisi")

    await sqlite_bot.say("/balance my secret plan")
    await sqlite_bot.say("/balance", user="lisi")
    await sqlite_bot.deliver(sqlite_bot.crypto.message("<xml/>", signature="0" * 40))
    await sqlite_bot.adapter.idle()

    assert "rate limited" in caplog.text  # it did log, about WeCom
    assert "access token" in caplog.text
    for private in (ZHANGSAN, "lisi", "secret plan", SECRET, TOKEN, AES_KEY, "token-"):
        assert private not in caplog.text
