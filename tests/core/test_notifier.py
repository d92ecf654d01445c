"""The delivery outbox: a result the user paid for reaches the chat through outages and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy import text as sql

from core.db.models import Delivery
from core.db.repositories import deliveries as outbox
from core.db.types import utcnow
from core.messages import ActionKind, Button, ChatRef, Reply, ReplyType, Stage, actions, image, progress, text
from tests.harness import DatabaseTarget, Harness, harness_for

LIMIT_S = 10  # a regression fails the test instead of hanging it


async def _outbox(harness: Harness) -> list[Delivery]:
    async with harness.app.db.transaction() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


async def _settled_outbox(harness: Harness) -> list[Delivery]:
    """The outbox after any drain in flight has finished (a send is recorded before it is marked)."""
    await harness.app.notifier.drain()
    return await _outbox(harness)


@pytest_asyncio.fixture
async def quiet(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """No workers and no background drain: the test drains the outbox itself, step by step."""
    async with harness_for(database, tmp_path, run_workers=False, drain_outbox=False) as harness:
        yield harness


def test_replies_survive_the_round_trip_through_the_outbox() -> None:
    originals = [
        text("hello", job=3, final=True),
        image("outputs/job-3-1.png", "caption", job=3),
        progress(3, Stage.PARTIAL, "preview", media="previews/job-3-partial-1.png"),
        actions(3, (Button(ActionKind.UPSCALE_2K, "⬆️ 2K", 2),), "next"),
    ]
    assert [Reply.from_json(reply.to_json()) for reply in originals] == originals


async def test_a_result_waits_out_a_platform_outage_and_arrives_once(harness: Harness) -> None:
    harness.chat.fail_next = 4
    job_id = await harness.imagine("a lantern")
    final = await harness.chat.wait_final(job_id)
    assert final.type == ReplyType.ACTIONS
    delivered = [reply for reply in harness.chat.for_job(job_id) if reply.type == ReplyType.IMAGE]
    assert len(delivered) == 1
    assert {delivery.status for delivery in await _settled_outbox(harness)} == {"sent"}


async def test_a_result_settled_before_a_crash_is_delivered_after_the_restart(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path) as before:
        before.chat.fail_next = 10_000  # the platform is down until the process dies
        job_id = await before.imagine("a lantern")
        async with asyncio.timeout(LIMIT_S):
            while not [d for d in await _outbox(before) if d.attempts > 0]:
                await before.app.notifier.drain()
        assert (await before.job(job_id)).status == "succeeded"
        assert not before.chat.for_job(job_id) or not any(r.final for r in before.chat.for_job(job_id))
    async with harness_for(database, tmp_path, run_workers=False) as after:
        final = await after.chat.wait_final(job_id)
        assert final.type == ReplyType.ACTIONS
        assert [r.type for r in after.chat.for_job(job_id)] == [ReplyType.IMAGE, ReplyType.ACTIONS]
        assert (await after.balance()).total == 30
        await after.assert_ledger_consistent()


async def test_queuing_the_same_key_twice_delivers_once(quiet: Harness) -> None:
    chat = ChatRef("test", "private", "alice")
    for _ in range(2):
        async with quiet.app.db.transaction() as session:
            await quiet.app.notifier.enqueue(session, chat, [text("paid", final=True)], key="payment:1")
    await quiet.app.notifier.drain()
    await quiet.app.notifier.drain()
    assert [reply.text for reply in quiet.chat.sent["alice"]] == ["paid"]


async def test_a_chat_gets_its_replies_in_order_even_when_one_fails(quiet: Harness) -> None:
    quiet.chat.fail_next = 1
    chat = ChatRef("test", "private", "bob")
    async with quiet.app.db.transaction() as session:
        await quiet.app.notifier.enqueue(session, chat, [text("first"), text("second")], key="order")
    await quiet.app.notifier.drain()
    assert quiet.chat.sent["bob"] == []  # "second" waits for "first"
    async with asyncio.timeout(LIMIT_S):
        while len(quiet.chat.sent["bob"]) < 2:
            await quiet.app.notifier.drain()
    assert [reply.text for reply in quiet.chat.sent["bob"]] == ["first", "second"]


async def test_a_delivery_that_never_succeeds_is_given_up(quiet: Harness) -> None:
    quiet.app.notifier.outbox_max_attempts = 3
    quiet.chat.fail_next = 10_000
    chat = ChatRef("test", "private", "carol")
    async with quiet.app.db.transaction() as session:
        await quiet.app.notifier.enqueue(session, chat, [text("hello")], key="lost")
    async with asyncio.timeout(LIMIT_S):
        while (await _outbox(quiet))[0].status == "pending":
            await quiet.app.notifier.drain()
    [delivery] = await _outbox(quiet)
    assert (delivery.status, delivery.attempts) == ("given_up", 3)


async def test_an_image_cut_off_mid_send_is_not_sent_twice(quiet: Harness, tmp_path: Path) -> None:
    """A process died while sending it (its claim lapsed): it may have arrived, so the note goes."""
    chat = ChatRef("test", "private", "carol")
    picture = image("outputs/job-7-1.png", "a cat", job=7, resend_note="maybe it arrived: /original 7")
    async with quiet.app.db.transaction() as session:
        await quiet.app.notifier.enqueue(session, chat, [picture], key="job:7:outcome")
        await session.execute(update(Delivery).values(attempted_at=utcnow(), claimed_by="outbox:gone"))
    await quiet.app.notifier.drain()
    [sent] = quiet.chat.sent["carol"]
    assert (sent.type, sent.text, sent.media) == (ReplyType.TEXT, "maybe it arrived: /original 7", None)


async def test_an_image_that_failed_to_send_is_sent_again(quiet: Harness, tmp_path: Path) -> None:
    quiet.chat.fail_next = 1  # the platform answered with an error: it did not arrive
    chat = ChatRef("test", "private", "dave")
    picture = image("outputs/job-8-1.png", "a dog", job=8, resend_note="maybe it arrived: /original 8")
    async with quiet.app.db.transaction() as session:
        await quiet.app.notifier.enqueue(session, chat, [picture], key="job:8:outcome")
    async with asyncio.timeout(LIMIT_S):
        while not quiet.chat.sent["dave"]:
            await quiet.app.notifier.drain()
    [sent] = quiet.chat.sent["dave"]
    assert (sent.type, sent.text) == (ReplyType.IMAGE, "a dog")


async def test_a_stop_mid_send_ends_the_outbox_even_when_the_database_is_away(quiet: Harness) -> None:
    quiet.chat.stalled = True
    chat = ChatRef("test", "private", "erin")
    async with quiet.app.db.transaction() as session:
        await quiet.app.notifier.enqueue(session, chat, [text("hi")], key="stall")
    outbox_loop = asyncio.create_task(quiet.app.notifier.run())
    async with asyncio.timeout(LIMIT_S):
        await quiet.chat.sending.wait()
    async with quiet.app.db.transaction() as session:  # what the stop records now cannot be written
        await session.execute(sql("ALTER TABLE deliveries RENAME TO deliveries_away"))
    outbox_loop.cancel()
    try:
        async with asyncio.timeout(LIMIT_S):
            await asyncio.gather(outbox_loop, return_exceptions=True)
        assert outbox_loop.cancelled()
    finally:
        async with quiet.app.db.transaction() as session:
            await session.execute(sql("ALTER TABLE deliveries_away RENAME TO deliveries"))


async def test_progress_too_old_to_matter_is_dropped_and_later_purged(quiet: Harness) -> None:
    """A worker-only process hands progress over with an expiry; late, it is worth nothing."""
    stale = utcnow() - timedelta(seconds=1)
    async with quiet.app.db.transaction() as session:
        await outbox.add(
            session,
            key="progress:late",
            chat="test:private:erin",
            payload=text("drawing…").to_json(),
            expires_at=stale,
        )
    await quiet.app.notifier.drain()
    assert quiet.chat.sent["erin"] == []
    await quiet.app.core.services.privacy.retention.purge(utcnow() + timedelta(days=2))
    assert await _outbox(quiet) == []
