"""Callbacks from strangers (issue 14, F1): the signature is checked on the `Encrypt` value of a
size-capped body before any XML is parsed, and the decrypted message is parsed without DTDs or
entities. Nothing in a refused callback is answered, and a genuine message after them still is."""

from __future__ import annotations

import io

from bot.web import WECOM_CALLBACK_MAX_BYTES
from tests.fakes.wecom_crypto import Callback, member_text
from tests.platforms.wecom.conftest import AGENT_ID, CORP_ID, ZHANGSAN, Response, WeComBot

FORGED = "0" * 40


def answers(bot: WeComBot) -> list[str]:
    return [call.content for call in bot.api.of("message/send") if call.body["touser"] == ZHANGSAN]


async def post(bot: WeComBot, query: dict[str, str], body: bytes) -> Response:
    async with bot.http.post(bot.url, params=query, data=io.BytesIO(body)) as answer:
        return Response(answer.status, await answer.text())


async def test_a_body_over_the_cap_is_refused_unread(sqlite_bot: WeComBot) -> None:
    genuine = sqlite_bot.crypto.message(member_text(CORP_ID, ZHANGSAN, "/balance", 1, AGENT_ID))
    empty_elements = b"<xml>" + b"<a/>" * (6 * 1024 * 1024) + b"</xml>"  # 24 MB

    refused = await post(sqlite_bot, genuine.query, empty_elements)

    assert refused.status == 413
    assert (await sqlite_bot.deliver(genuine)).status == 200
    await sqlite_bot.adapter.idle()
    assert len(answers(sqlite_bot)) == 1


async def test_a_forged_signature_is_refused_without_parsing_the_body(sqlite_bot: WeComBot) -> None:
    genuine = sqlite_bot.crypto.message(member_text(CORP_ID, ZHANGSAN, "/balance", 2, AGENT_ID))
    forged = {**genuine.query, "msg_signature": FORGED}
    room = WECOM_CALLBACK_MAX_BYTES - len(genuine.body)
    # The envelope followed by elements that are never closed: no XML parser gets past them, so an
    # answer about the signature (403) rather than about the XML (400) means none was run.
    unclosed = genuine.body.removesuffix(b"</xml>") + b"<a>" * (room // 3)
    empty_elements = genuine.body.removesuffix(b"</xml>") + b"<a/>" * (room // 4) + b"</xml>"

    statuses = [(await post(sqlite_bot, forged, body)).status for body in (unclosed, empty_elements)]

    assert statuses == [403, 403]
    await sqlite_bot.adapter.idle()
    assert answers(sqlite_bot) == []


async def test_a_signed_message_with_a_dtd_is_not_parsed_or_answered(sqlite_bot: WeComBot) -> None:
    text = member_text(CORP_ID, ZHANGSAN, "/balance", 3, AGENT_ID)
    with_dtd = sqlite_bot.crypto.message("<!DOCTYPE xml>" + text)
    with_entity = sqlite_bot.crypto.message(
        '<!DOCTYPE xml [<!ENTITY b "/balance">]>' + text.replace("<![CDATA[/balance]]>", "&b;")
    )

    statuses = [(await sqlite_bot.deliver(callback)).status for callback in (with_dtd, with_entity)]

    assert statuses == [400, 400]
    assert (
        await sqlite_bot.deliver(Callback(with_dtd.query, b"<xml><Encrypt></Encrypt></xml>"))
    ).status == 400
    await sqlite_bot.say("/balance", msg_id=4)
    await sqlite_bot.adapter.idle()
    assert len(answers(sqlite_bot)) == 1, "only the message without a DTD"
