"""The acceptance path: `/support` from a running `image2bot console --user alice` reaches the agent in
WeCom with what they need, and the agent's encrypted `#<n> ...` answer is printed in alice's console."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from core.i18n import translate
from tests.cli import console, free_port
from tests.fakes.wecom_api import WeComAPIDouble
from tests.fakes.wecom_crypto import WeComCallbackCrypto, member_text
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.wecom.conftest import AES_KEY, AGENT_ID, CALLBACK_PATH, CORP_ID, SECRET, TOKEN

pytestmark = [pytest.mark.spawns, BOTH_DATABASES]

AGENT = "lisi"


async def test_support_from_the_console_is_answered_from_wecom(
    database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble
) -> None:
    port = free_port()
    env = _env(
        database,
        IMAGE2BOT_WECOM__ENABLED="true",
        IMAGE2BOT_WECOM__CORP_ID=CORP_ID,
        IMAGE2BOT_WECOM__AGENT_ID=str(AGENT_ID),
        IMAGE2BOT_WECOM__SECRET=SECRET,
        IMAGE2BOT_WECOM__TOKEN=TOKEN,
        IMAGE2BOT_WECOM__ENCODING_AES_KEY=AES_KEY,
        IMAGE2BOT_WECOM__API_BASE_URL=api.base_url,
        IMAGE2BOT_SUPPORT__WECOM_AGENTS=json.dumps([AGENT]),
        IMAGE2BOT_WEB__PORT=str(port),
        IMAGE2BOT_PRIVACY__REQUIRE_ACCEPTANCE="false",
    )
    async with console("alice", cwd=tmp_path, env=env) as chat:
        chat.say("/support my credits vanished")
        assert await chat.reply() == translate("en", "support.opened", ticket=1)
        [card] = await api.wait_for("message/send", where=lambda call: call.body.get("touser") == AGENT)
        for expected in ("#1", "console:alice", "Balance 40", "my credits vanished"):
            assert expected in card.content, expected

        crypto = WeComCallbackCrypto(TOKEN, AES_KEY, CORP_ID)
        callback = crypto.message(member_text(CORP_ID, AGENT, "#1 we restored them", 7_000_000_001, AGENT_ID))
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
            async with http.post(url, params=callback.query, data=callback.body) as answer:
                assert answer.status == 200
        assert await chat.reply() == translate("en", "support.replied", ticket=1, text="we restored them")
