"""The support desk: a user reaches a human from any chat; staff answer from WeCom."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from PIL import Image
from sqlalchemy import select

from core.db.models import AuditEvent, Operator, SupportMessage, SupportTicket
from core.i18n import translate
from core.messages import ChatRef, Incoming, Reply, ReplyType, UserRef
from tests.fakes.chat import RecordingChat
from tests.harness import DatabaseTarget, Harness, harness_for

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECOM = {
    "enabled": True,
    "corp_id": "corp",
    "agent_id": 1000002,
    "secret": "s",
    "token": "t",
    "encoding_aes_key": AES_KEY,
}
AGENT = "lisi"
ADMIN_AGENT = "wangwu"


class Desk:
    def __init__(self, harness: Harness, staff_chat: RecordingChat) -> None:
        self.harness = harness
        self.staff_chat = staff_chat

    async def staff_says(self, message: str, agent: str = AGENT) -> list[Reply]:
        user = UserRef("wecom", agent)
        return await self.harness.app.core.dispatch(Incoming(user, ChatRef("wecom", "user", agent), message))

    async def delivered(self) -> None:
        await self.harness.app.notifier.drain()

    def cards(self, agent: str = AGENT) -> list[str]:
        return [reply.text for reply in self.staff_chat.sent[agent]]

    def user_saw(self, user: str = "alice") -> list[str]:
        return [reply.text for reply in self.harness.chat.sent[user]]


@pytest_asyncio.fixture
async def desk(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Desk]:
    support = {"wecom_agents": [AGENT, ADMIN_AGENT], "hours": "Mon–Fri 9:00–18:00 (UTC+8)"}
    bot = {"admins": [f"wecom:{ADMIN_AGENT}"]}
    async with harness_for(database, tmp_path, wecom=WECOM, support=support, bot=bot) as harness:
        staff_chat = RecordingChat("wecom")
        harness.app.notifier.register(staff_chat)
        yield Desk(harness, staff_chat)


async def test_support_without_a_message_says_how_to_reach_a_human_and_when(desk: Desk) -> None:
    [reply] = await desk.harness.say("/support")
    assert translate("en", "support.how") in reply.text
    assert "Mon–Fri 9:00–18:00 (UTC+8)" in reply.text


async def test_the_contact_qr_is_shown_when_configured(database: DatabaseTarget, tmp_path: Path) -> None:
    qr = tmp_path / "qr.png"
    Image.new("RGB", (64, 64), "white").save(qr)
    async with harness_for(database, tmp_path, support={"contact_qr_path": qr}) as harness:
        replies = await harness.say("/support")
    assert [reply.type for reply in replies] == [ReplyType.TEXT, ReplyType.IMAGE]
    assert await harness.app.storage.read(replies[1].media or "") == qr.read_bytes()


async def test_with_no_desk_staffed_support_says_honestly_where_help_is(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    contact = "help@example.org"
    async with harness_for(database, tmp_path, privacy={"contact": contact}) as harness:
        [how] = await harness.say("/support")
        assert how.text == translate("en", "support.how_by_email", contact=contact)
        [kept] = await harness.say("/support my image never arrived")
        assert kept.text == translate("en", "support.kept_write_by_email", ticket=1, contact=contact)
        [chinese] = await harness.say("/support", locale="zh-CN")
        assert chinese.text == translate("zh-CN", "support.how_by_email", contact=contact)

        async with harness.app.db.transaction() as session:  # the web admin gets its first operator
            session.add(Operator(name="ops", password_hash="argon2-hash"))
        [how] = await harness.say("/support")
        assert how.text == translate("en", "support.how")
        [appended] = await harness.say("/support it is still missing")
        assert appended.text == translate("en", "support.appended", ticket=1)
        async with harness.app.db.transaction() as session:
            thread = await session.scalars(select(SupportMessage.body).order_by(SupportMessage.id))
            assert list(thread) == ["my image never arrived", "it is still missing"]


async def test_a_ticket_reaches_the_staff_with_what_they_need_to_answer(desk: Desk) -> None:
    harness = desk.harness
    job_id = await harness.imagine("a cat")
    await harness.chat.wait_final(job_id)

    [opened] = await harness.say("/support my credits vanished --help me")
    assert opened.text == translate("en", "support.opened", ticket=1)
    assert opened.private
    await desk.delivered()

    for agent in (AGENT, ADMIN_AGENT):
        [card] = desk.cards(agent)
        assert "#1" in card
        assert "test:alice" in card
        assert "Balance 30" in card
        assert f"#{job_id} succeeded" in card
        assert "my credits vanished --help me" in card, "the message as written, flags and all"


async def test_a_staff_answer_reaches_the_user_in_the_chat_they_wrote_from(desk: Desk) -> None:
    await desk.harness.say("/support my credits vanished")
    [ack] = await desk.staff_says("#1 we restored them")
    assert ack.text == translate("en", "support.staff.sent", ticket=1, who="test:alice")
    await desk.delivered()
    assert translate("en", "support.replied", ticket=1, text="we restored them") in desk.user_saw()


async def test_a_second_message_joins_the_open_ticket_and_close_ends_it(desk: Desk) -> None:
    await desk.harness.say("/support first")
    [more] = await desk.harness.say("/support second")
    assert more.text == translate("en", "support.appended", ticket=1)
    await desk.staff_says("#1 close")
    await desk.delivered()
    assert translate("en", "support.closed", ticket=1) in desk.user_saw()
    [again] = await desk.harness.say("/support third")
    assert again.text == translate("en", "support.opened", ticket=2)
    async with desk.harness.app.db.transaction() as session:
        thread = (
            await session.scalars(select(SupportMessage.body).where(SupportMessage.ticket_id == 1))
        ).all()
    assert thread == ["first", "second", "(closed)"]


async def test_only_administrators_grant_credits_from_a_ticket_and_it_is_audited(desk: Desk) -> None:
    harness = desk.harness
    await harness.say("/support my credits vanished")
    before = (await harness.balance()).total

    [refused] = await desk.staff_says("#1 credit 20 sorry")
    assert refused.error
    assert refused.text == translate("en", "error.support_credit_not_admin")
    assert (await harness.balance()).total == before

    [granted] = await desk.staff_says("#1 credit 20 failed job refund", agent=ADMIN_AGENT)
    assert granted.text == translate(
        "en", "support.staff.credited", ticket=1, credits=20, balance=before + 20
    )
    assert (await harness.balance()).total == before + 20
    await desk.delivered()
    told = translate(
        "en", "support.credited", ticket=1, credits=20, reason="failed job refund", balance=before + 20
    )
    assert told in desk.user_saw()
    async with harness.app.db.transaction() as session:
        [event] = (await session.scalars(select(AuditEvent))).all()
    assert (event.actor, event.action) == (f"wecom:{ADMIN_AGENT}", "support_credit")
    assert event.details == {"ticket": 1, "credits": 20, "reason": "failed job refund"}
    await harness.assert_ledger_consistent()


async def test_staff_get_a_usage_hint_for_anything_but_ticket_answers_and_commands(desk: Desk) -> None:
    await desk.harness.say("/support hello")
    usage = translate("en", "error.support_staff_usage")
    for message in ("hello there", "#1", "#x hi", "#1 credit lots"):
        [reply] = await desk.staff_says(message, agent=ADMIN_AGENT)
        assert reply.error
        assert reply.text in (usage, translate("en", "error.support_credit_usage", limit=100_000)), message
    [missing] = await desk.staff_says("#99 hi")
    assert missing.text == translate("en", "error.support_ticket_not_found", ticket=99)
    [balance] = await desk.staff_says("/balance")
    assert balance.text.startswith("Balance:"), "staff use the bot like anyone else"


async def test_messages_sent_at_once_open_one_ticket(desk: Desk) -> None:
    replies = await asyncio.gather(*(desk.harness.say(f"/support message {n}") for n in range(6)))
    async with desk.harness.app.db.transaction() as session:
        tickets = (await session.scalars(select(SupportTicket))).all()
    assert len(tickets) == 1
    assert sum(reply.text == translate("en", "support.opened", ticket=1) for [reply] in replies) == 1
