"""The support desk through the WeCom door: a user's ticket reaches the agent as a WeCom message, and
the agent's encrypted `#<ticket> ...` answer reaches the user in the chat they wrote from."""

from __future__ import annotations

from pathlib import Path

from core.i18n import translate
from tests.fakes.wecom_api import WeComAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN, open_wecom_bot

AGENT = "lisi"
WECOM = {
    "enabled": True,
    "corp_id": CORP_ID,
    "agent_id": AGENT_ID,
    "secret": SECRET,
    "token": TOKEN,
    "encoding_aes_key": AES_KEY,
}


async def test_a_ticket_reaches_the_agent_in_wecom_and_the_answer_comes_back(
    database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble
) -> None:
    async with open_wecom_bot(
        database, tmp_path, api, wecom=WECOM, support={"wecom_agents": [AGENT]}, bot={"admins": []}
    ) as bot:
        harness = bot.harness
        job_id = await harness.imagine("a cat")
        await harness.chat.wait_final(job_id)
        await harness.say("/support my credits vanished")

        [card] = await api.wait_for("message/send", where=lambda call: call.body.get("touser") == AGENT)
        assert "#1" in card.content
        assert "test:alice" in card.content
        assert "Balance 30" in card.content
        assert f"#{job_id} succeeded" in card.content
        assert "my credits vanished" in card.content

        assert (await bot.say("#1 we restored them", user=AGENT)).status == 200
        await bot.adapter.idle()
        await harness.app.notifier.drain()
        told = translate("en", "support.replied", ticket=1, text="we restored them")
        assert told in [reply.text for reply in harness.chat.sent["alice"]]

        assert (await bot.say("#1 credit 20 sorry", user=AGENT)).status == 200
        await bot.adapter.idle()
        refusal = await api.wait_for(
            "message/send",
            where=lambda call: (
                call.body.get("touser") == AGENT
                and translate("en", "error.support_credit_not_admin") in call.content
            ),
        )
        assert refusal
        assert (await harness.balance()).total == 30, "only administrators grant credits"
