"""`/report <job> [reason]`: a delivered result for review, and staff restoring its credits once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from core import reports
from core.db.models import AuditEvent, LedgerEntry, SupportMessage, SupportTicket
from core.errors import UserError
from core.i18n import translate
from core.messages import ReplyType
from tests.core.test_support_desk import ADMIN_AGENT, AGENT, WECOM, Desk
from tests.fakes.chat import RecordingChat
from tests.harness import DatabaseTarget, harness_for


@pytest_asyncio.fixture
async def desk(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Desk]:
    support = {"wecom_agents": [AGENT, ADMIN_AGENT]}
    async with harness_for(database, tmp_path, wecom=WECOM, support=support) as harness:
        staff_chat = RecordingChat("wecom")
        harness.app.notifier.register(staff_chat)
        yield Desk(harness, staff_chat)


async def delivered_job(desk: Desk, prompt: str = "a cat", user: str = "alice") -> int:
    job_id = await desk.harness.imagine(prompt, user)
    await desk.harness.chat.wait_final(job_id)
    return job_id


async def tickets(desk: Desk) -> list[SupportTicket]:
    async with desk.harness.app.db.read() as session:
        return list(await session.scalars(select(SupportTicket).order_by(SupportTicket.id)))


async def thread(desk: Desk, ticket_id: int) -> list[str]:
    async with desk.harness.app.db.read() as session:
        query = select(SupportMessage.body).where(SupportMessage.ticket_id == ticket_id)
        return list(await session.scalars(query.order_by(SupportMessage.id)))


async def restore_entries(desk: Desk) -> list[LedgerEntry]:
    async with desk.harness.app.db.read() as session:
        return list(await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "restore")))


async def test_a_report_opens_a_ticket_linked_to_the_job_and_the_staff_see_the_job_and_its_image(
    desk: Desk,
) -> None:
    job_id = await delivered_job(desk)
    [opened] = await desk.harness.say(f"/report {job_id} the faces are distorted --really")
    assert opened.text == translate("en", "report.opened", job=job_id, ticket=1, credits=10)
    assert opened.private
    assert not opened.error

    [ticket] = await tickets(desk)
    assert (ticket.job_id, ticket.status, ticket.identity) == (job_id, "open", "test:alice")
    [listed] = await desk.harness.app.core.services.support.tickets()
    assert (listed["id"], listed["job_id"]) == (1, job_id)
    assert await thread(desk, ticket.id) == ["the faces are distorted --really"]
    await desk.delivered()
    for agent in (AGENT, ADMIN_AGENT):
        card, picture = desk.staff_chat.sent[agent]
        assert "the faces are distorted --really" in card.text
        assert f"Reported job #{job_id}: done · 1k 1024×1024 · 1 image(s) · charged 10" in card.text
        assert "#1 restore" in card.text
        assert picture.type == ReplyType.IMAGE
        assert picture.media is not None
        assert await desk.harness.app.storage.exists(picture.media)
        assert picture.text == translate("en", "report.card_image", job=job_id, index=1, n=1, ticket=1)


async def test_the_chinese_alias_reports_in_chinese_without_a_reason(desk: Desk) -> None:
    job_id = await delivered_job(desk)
    [first] = await desk.harness.say(f"/反馈 {job_id}\n第二行", user="bob", locale="zh-CN")
    assert first.text == translate("zh-CN", "error.job_not_found", job=job_id), "a line break ends the number"
    [opened] = await desk.harness.say(f"/反馈 {job_id}", locale="zh-CN")
    assert opened.text == translate("zh-CN", "report.opened", job=job_id, ticket=1, credits=10)
    assert "积分将退回" in opened.text
    assert await thread(desk, 1) == [reports.NO_REASON]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_only_the_owner_reports_a_job_and_a_second_report_points_to_the_first(
    desk: Desk, language: str
) -> None:
    job_id = await delivered_job(desk)
    [theirs] = await desk.harness.say(f"/report {job_id} ugly", user="bob", locale=language)
    assert theirs.error
    assert theirs.text == translate(language, "error.job_not_found", job=job_id)
    assert await tickets(desk) == []

    say = desk.harness.say
    first, second = await asyncio.gather(
        say(f"/report {job_id} blurry", locale=language), say(f"/report {job_id} blurry", locale=language)
    )
    texts = sorted([first[0].text, second[0].text])
    assert texts == sorted(
        [
            translate(language, "report.opened", job=job_id, ticket=1, credits=10),
            translate(language, "report.already", job=job_id, ticket=1),
        ]
    )
    [again] = await say(f"/report {job_id} still blurry", locale=language)
    assert again.text == translate(language, "report.already", job=job_id, ticket=1)
    assert len(await tickets(desk)) == 1
    assert await thread(desk, 1) == ["blurry"]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_bad_job_ids_and_reasons_get_a_clear_message_and_open_nothing(
    database: DatabaseTarget, tmp_path: Path, language: str
) -> None:
    support = {"wecom_agents": [AGENT]}
    async with harness_for(database, tmp_path, wecom=WECOM, support=support, run_workers=False) as harness:
        job_id = await harness.imagine("a cat")
        [not_yet] = await harness.say(f"/report {job_id}", locale=language)
        assert not_yet.text == translate(language, "error.job_not_finished", job=job_id)
        await harness.say(f"/cancel {job_id}")
        cases = {
            f"/report {job_id}": translate(language, "error.report_not_delivered", job=job_id),
            "/report": translate(language, "error.report_usage", limit=reports.MAX_REASON_CHARS),
            "/report twelve": translate(language, "error.bad_job_id", value="twelve"),
            "/report 99": translate(language, "error.job_not_found", job=99),
            f"/report {job_id} {'x' * 501}": translate(
                language, "error.report_usage", limit=reports.MAX_REASON_CHARS
            ),
        }
        for message, expected in cases.items():
            [refused] = await harness.say(message, locale=language)
            assert refused.error, message
            assert refused.text == expected, message
        async with harness.app.db.read() as session:
            assert list(await session.scalars(select(SupportTicket))) == []
        assert (await harness.balance()).total == 40, "a report never charges"


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_staff_restore_the_jobs_credits_once_and_the_user_is_told(desk: Desk, language: str) -> None:
    harness = desk.harness
    job_id = await delivered_job(desk)
    await harness.say(f"/report {job_id} unusable", locale=language)
    before = (await harness.balance()).total

    [done] = await desk.staff_says("#1 restore")
    assert done.text == translate(
        "en", "report.staff_restored", job=job_id, ticket=1, credits=10, balance=before + 10
    )
    assert (await harness.balance()).total == before + 10
    [again] = await desk.staff_says("#1 restore", agent=ADMIN_AGENT)
    assert again.error
    assert again.text == translate("en", "error.restore_already", job=job_id)
    assert (await harness.balance()).total == before + 10

    await desk.delivered()
    told = translate(language, "report.restored", job=job_id, ticket=1, credits=10, balance=before + 10)
    assert desk.user_saw().count(told) == 1
    assert await thread(desk, 1) == ["unusable", f"(restored 10 credits of job #{job_id})"]
    async with harness.app.db.read() as session:
        [event] = (await session.scalars(select(AuditEvent))).all()
    assert (event.actor, event.action) == (f"wecom:{AGENT}", "job_credits_restored")
    assert event.details == {"ticket": 1, "job": job_id, "credits": 10}
    [entry] = await restore_entries(desk)
    assert (entry.delta, entry.bucket, entry.idempotency_key) == (
        10,
        "one_time",
        f"job:{job_id}:restore:one_time",
    )
    await harness.assert_ledger_consistent()


async def test_concurrent_restores_give_the_credits_back_once(desk: Desk) -> None:
    harness = desk.harness
    job_id = await delivered_job(desk)
    await harness.say(f"/report {job_id}")
    before = (await harness.balance()).total
    support = harness.app.core.services.support

    outcomes = await asyncio.gather(
        *(reports.restore(support, 1, actor=f"operator:ops{n}") for n in range(6)), return_exceptions=True
    )
    restored = [outcome for outcome in outcomes if isinstance(outcome, reports.Restored)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, UserError)]
    assert len(restored) == 1, outcomes
    assert len(refused) == 5, outcomes
    assert {error.code for error in refused} == {"restore_already"}
    assert restored[0].balance == before + 10
    assert len(await restore_entries(desk)) == 1
    assert (await harness.balance()).total == before + 10
    await harness.assert_ledger_consistent()


async def test_a_refunded_job_or_a_ticket_without_a_job_cannot_be_restored(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    support = {"wecom_agents": [AGENT]}
    async with harness_for(database, tmp_path, wecom=WECOM, support=support, run_workers=False) as harness:
        job_id = await harness.imagine("a cat")
        await harness.say(f"/cancel {job_id}")  # refunded: its 10 credits came back then
        await harness.say("/support a question")
        async with harness.app.db.transaction() as session:  # a ticket linked to it, as staff could find one
            ticket = SupportTicket(
                account_id=(await harness.job(job_id)).account_id,
                identity="test:alice",
                chat="test:private:alice",
                language="en",
                job_id=job_id,
            )
            session.add(ticket)
        desk = harness.app.core.services.support
        with pytest.raises(UserError) as refunded:
            await reports.restore(desk, 2, actor="operator:ops")
        assert (refunded.value.code, refunded.value.params) == ("restore_refunded", {"job": job_id})
        with pytest.raises(UserError) as no_job:
            await reports.restore(desk, 1, actor="operator:ops")
        assert (no_job.value.code, no_job.value.params) == ("restore_no_job", {"ticket": 1})
        assert (await harness.balance()).total == 40
        assert (
            translate("zh-CN", "error.restore_refunded", job=job_id)
            == f"任务 #{job_id} 已失败或已取消，积分已经退回，无需再退。"
        )
