"""Bad input through the WeCom door: text members type, and callbacks that are not what WeCom sends.

XML cannot carry NUL, most control characters or lone surrogates, so the text here is what a member
can really send; forged or broken callbacks get a 4xx, and a genuine message after them is answered.
"""

from __future__ import annotations

import io
import secrets
import time
from pathlib import Path

from tests.fakes.wecom_api import WeComAPIDouble
from tests.fakes.wecom_crypto import Callback, member_text
from tests.harness import DatabaseTarget, sqlite_target
from tests.platforms.wecom.conftest import (  # noqa: F401  (api: a fixture)
    AGENT_ID,
    CORP_ID,
    ZHANGSAN,
    WeComBot,
    api,
    open_wecom_bot,
)
from tests.robustness.conftest import ledger
from tests.robustness.images import bomb, bomb_by_header, truncated_png
from tests.robustness.inputs import REFUSED, en

WEB_MAX_BYTES = 25 * 1024 * 1024  # bot.web.WebServer's client_max_size


def texts_to(bot: WeComBot, user: str = ZHANGSAN) -> list[str]:
    return [call.content for call in bot.api.of("message/send") if call.body["touser"] == user]


async def test_bad_imagine_text_is_explained_and_costs_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    api: WeComAPIDouble,  # noqa: F811
) -> None:
    async with open_wecom_bot(database, tmp_path, api, run_workers=False) as bot:
        await bot.say("/balance")
        await bot.adapter.idle()
        before = await ledger(bot.harness.app)
        for rest, expected in REFUSED:
            sent = len(texts_to(bot))
            assert (await bot.say(f"/imagine {rest}")).status == 200
            await bot.adapter.idle()
            assert texts_to(bot)[sent:] == [expected], repr(rest[:40])
        assert await ledger(bot.harness.app) == before


async def test_bad_reference_images_are_explained_and_cost_nothing(
    database: DatabaseTarget,
    tmp_path: Path,
    api: WeComAPIDouble,  # noqa: F811
) -> None:
    cases = [
        (b"", "reference_not_image", {}),
        (truncated_png(), "reference_not_image", {}),
        (bomb_by_header(100_000, 100_000), "reference_too_many_pixels", {"limit": 50}),
        (bomb(8000, 8000), "reference_too_many_pixels", {"limit": 50}),
    ]
    async with open_wecom_bot(database, tmp_path, api, run_workers=False) as bot:
        await bot.say("/balance")
        await bot.adapter.idle()
        before = await ledger(bot.harness.app)
        for data, code, params in cases:
            await bot.send_image(data)
            sent = len(texts_to(bot))
            await bot.say("make it blue")  # the text after an image is its prompt
            await bot.adapter.idle()
            [answer] = texts_to(bot)[sent:]
            name = answer.split(" ")[0]
            assert name.startswith("wecom-")
            assert answer == en(code, name=name, **params)
        assert await ledger(bot.harness.app) == before


def _signed(bot: WeComBot, encrypted: str) -> Callback:
    """A POST signed with our token around `encrypted`, whatever it holds."""
    stamp, nonce = str(int(time.time())), secrets.token_hex(5)
    query = {
        "msg_signature": bot.crypto.signature(stamp, nonce, encrypted),
        "timestamp": stamp,
        "nonce": nonce,
    }
    return Callback(query, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode())


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefg", "bcdefgh", strict=True))
    + "]><xml><Encrypt>&h;</Encrypt></xml>"
)
NOT_MESSAGES = [
    "not xml at all",
    "<a/>",
    "<xml/>",
    "<xml><MsgType>event</MsgType></xml>",
    "<xml><MsgType>text</MsgType><AgentID>abc</AgentID></xml>",
    "<xml><MsgType>text</MsgType><CreateTime>99999999999999999999</CreateTime></xml>",
    "<xml><MsgType><table>1</table></MsgType></xml>",
    "<xml><MsgType>text</MsgType><MsgType>image</MsgType></xml>",
    '<!DOCTYPE x [<!ENTITY e "text">]><xml><MsgType>&e;</MsgType></xml>',
]


async def test_broken_and_forged_callbacks_get_a_4xx_and_a_genuine_message_still_gets_through(
    tmp_path: Path,
    api: WeComAPIDouble,  # noqa: F811
) -> None:
    database = sqlite_target(tmp_path)
    async with open_wecom_bot(database, tmp_path, api, run_workers=False) as bot:
        genuine = bot.crypto.message(member_text(CORP_ID, ZHANGSAN, "/balance", 1, AGENT_ID))
        for name in ("msg_signature", "timestamp", "nonce"):
            query = {key: value for key, value in genuine.query.items() if key != name}
            assert (await bot.deliver(Callback(query, genuine.body))).status == 403, name
        not_a_time = Callback({**genuine.query, "timestamp": "soon"}, genuine.body)
        assert (await bot.deliver(not_a_time)).status == 403
        assert (await bot.deliver(_signed(bot, "%%% not base64 %%%"))).status == 403
        assert (await bot.deliver(_signed(bot, "QUJD"))).status == 403  # base64, but not a whole block
        for body in (b"", b"<xml>", b"<xml><Other/></xml>", LAUGHS.encode(), b"\xff\xfe<xml/>"):
            assert (await bot.deliver(Callback(genuine.query, body))).status == 400, body[:20]
        for xml in NOT_MESSAGES:
            assert (await bot.deliver(bot.crypto.message(xml))).status == 400, xml
        async with bot.http.post(
            bot.url, params=genuine.query, data=io.BytesIO(b"<" * (WEB_MAX_BYTES + 1))
        ) as answer:
            assert answer.status == 413
        assert (await bot.deliver(Callback(genuine.query), "GET")).status == 403  # no echostr
        garbage_echo = _signed(bot, "%%%")
        garbage_echo.query["echostr"] = "%%%"
        assert (await bot.deliver(garbage_echo, "GET")).status == 403

        assert (await bot.deliver(genuine)).status == 200
        await bot.adapter.idle()
        [balance] = texts_to(bot)
    assert balance.startswith("Balance")
