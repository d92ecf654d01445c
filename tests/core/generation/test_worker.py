"""Jobs from queue to delivery: previews, results, fairness, limits, cancellation, crash recovery."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import text

from core.db.repositories import jobs as jobs_repo
from core.db.types import utcnow
from core.generation.providers.base import OnPartial, RenderRequest, RenderResult
from core.i18n import translate
from core.messages import ChatRef, Incoming, ReplyType, Stage
from tests.fakes.gated_provider import GatedProvider
from tests.harness import DatabaseTarget, Harness, harness_for


async def test_a_job_shows_progress_then_delivers_the_exact_size_and_is_charged_once(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, generation={"partial_images": 2}) as harness:
        job_id = await harness.imagine("a red fox in snow --ar 16:9 --style cinema")
        await harness.chat.wait_final(job_id)
        replies = harness.chat.for_job(job_id)
        kinds = [(reply.type, reply.stage) for reply in replies]
        assert kinds == [
            (ReplyType.PROGRESS, Stage.STARTED),
            (ReplyType.PROGRESS, Stage.PARTIAL),
            (ReplyType.PROGRESS, Stage.PARTIAL),
            (ReplyType.IMAGE, None),
            (ReplyType.ACTIONS, None),
        ]
        image = replies[3]
        assert image.media is not None
        assert image.media.startswith("outputs/")
        with Image.open(io.BytesIO(await harness.app.storage.read(image.media))) as picture:
            assert picture.size == (1360, 768)
        assert "1360×768" in image.text
        assert "30" in image.text
        assert {button.kind.value for button in replies[4].buttons} == {
            "reroll",
            "upscale-2k",
            "upscale-4k",
            "vary",
        }
        job = await harness.job(job_id)
        assert job.status == "succeeded"
        assert job.style == "cinema"
        assert job.outputs
        assert (await harness.balance()).total == 30
        await harness.assert_ledger_consistent()


async def test_several_images_in_one_request_cost_n_times_and_each_is_delivered(harness: Harness) -> None:
    job_id = await harness.imagine("tiny robots --n 2")
    await harness.chat.wait_final(job_id)
    images = [reply for reply in harness.chat.for_job(job_id) if reply.type == ReplyType.IMAGE]
    assert len(images) == 2
    assert images[0].media != images[1].media
    assert (await harness.balance()).total == 20
    await harness.assert_ledger_consistent()


async def test_queue_positions_count_the_jobs_ahead(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        first = await harness.say("/imagine one")
        second = await harness.say("/imagine two", "bob")
    assert "position 1" in first[0].text
    assert "position 2" in second[0].text


async def test_claims_are_round_robin_across_users(database: DatabaseTarget, tmp_path: Path) -> None:
    provider = GatedProvider()
    async with harness_for(database, tmp_path, provider=provider, generation={"concurrency": 1}) as harness:
        for prompt in ("a1", "a2", "a3"):
            await harness.imagine(prompt, "alice")
        await provider.wait_started(1)
        await harness.imagine("b1", "bob")
        provider.release("a1")
        await provider.wait_started(2)
        provider.release("b1")
        await provider.wait_started(3)
        assert provider.started == ["a1", "b1", "a2"]


async def test_one_user_never_runs_more_than_the_per_user_limit(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with harness_for(
        database,
        tmp_path,
        provider=provider,
        generation={"concurrency": 4, "max_running_jobs_per_user": 1},
    ) as harness:
        for prompt in ("a1", "a2", "a3"):
            await harness.imagine(prompt, "alice")
        await harness.imagine("b1", "bob")
        await provider.wait_started(2)
        assert sorted(provider.started) == ["a1", "b1"]
        provider.release("a1")
        await provider.wait_started(3)
        assert provider.started[2] == "a2"
        for prompt in ("a2", "a3", "b1"):
            provider.release(prompt)


async def test_cancelling_a_running_job_refunds_it_and_no_image_follows(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with harness_for(database, tmp_path, provider=provider) as harness:
        job_id = await harness.imagine("slow painting")
        await provider.wait_started(1)
        replies = await harness.say(f"/cancel {job_id}")
        assert replies[0].final
        assert replies[0].job == job_id
        assert replies[0].text == translate("en", "cancel.done", job=job_id, credits=10, balance=40)
        await provider.wait_idle()  # the render ended before it was let go: it was cancelled
        provider.release("slow painting")
        assert not [reply for reply in harness.chat.for_job(job_id) if reply.type == ReplyType.IMAGE]
        assert (await harness.job(job_id)).status == "cancelled"
        assert (await harness.balance()).total == 40
        await harness.assert_ledger_consistent()


async def test_a_failed_delivery_is_retried(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path) as harness:
        harness.chat.fail_next = 2
        job_id = await harness.imagine("a lantern")
        final = await harness.chat.wait_final(job_id)
        assert final.type == ReplyType.ACTIONS


async def _simulate_crash_mid_run(harness: Harness, prompt: str) -> int:
    """Submits a job and claims it the way a worker would, then 'dies': its lease lapses at once."""
    job_id = await harness.imagine(prompt)
    async with harness.app.db.transaction() as session:
        claim = await jobs_repo.claim_next(
            session,
            owner="worker:gone",
            lease=timedelta(0),
            max_running_per_account=5,
            images_per_minute=0,
            now=utcnow(),
        )
    assert claim.job is not None
    assert claim.job.id == job_id
    return job_id


async def test_a_job_left_running_by_a_crash_is_requeued_and_finished_once(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        job_id = await _simulate_crash_mid_run(harness, "after the crash")
        worker = asyncio.create_task(harness.app.worker.run())
        try:
            final = await harness.chat.wait_final(job_id)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        assert final.type == ReplyType.ACTIONS
        job = await harness.job(job_id)
        assert job.status == "succeeded"
        assert job.attempts == 2
        assert (await harness.balance()).total == 30
        await harness.assert_ledger_consistent()


async def test_a_crashed_job_out_of_attempts_is_refunded_once_never_also_run(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False, generation={"max_attempts": 1}) as harness:
        job_id = await _simulate_crash_mid_run(harness, "unlucky")
        await harness.app.worker.recover()
        await harness.app.worker.recover()  # a second start must not refund again
        final = await harness.chat.wait_final(job_id)
        assert final.text == translate("en", "job.failed.interrupted", job=job_id, credits=10)
        assert len([reply for reply in harness.chat.for_job(job_id) if reply.final]) == 1
        job = await harness.job(job_id)
        assert job.status == "failed"
        assert job.error_code == "interrupted"
        assert (await harness.balance()).total == 40
        await harness.assert_ledger_consistent()


class CrashingProvider(GatedProvider):
    """A provider with a bug of its own: not a ProviderError, just an exception."""

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        raise RuntimeError("unexpected")


async def test_an_unexpected_error_refunds_with_a_reference_and_the_pool_keeps_working(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, provider=CrashingProvider()) as harness:
        job_id = await harness.imagine("a lighthouse")
        final = await harness.chat.wait_final(job_id)
        job = await harness.job(job_id)
        assert job.status == "failed"
        assert job.error_ref
        assert final.text == translate("en", "job.failed.internal", job=job_id, credits=10, ref=job.error_ref)
        assert "RuntimeError" not in final.text
        second = await harness.imagine("another lighthouse")
        assert (await harness.chat.wait_final(second)).final
        assert (await harness.balance()).total == 40
        await harness.assert_ledger_consistent()


class LogSeen(logging.Handler):
    """Sets `seen` once a log message containing `fragment` is emitted."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.fragment in record.getMessage():
            self.seen.set()


async def test_the_worker_pool_survives_the_database_failing_for_a_moment(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    failed_claim = LogSeen("could not claim jobs")
    worker_log = logging.getLogger("core.generation.worker")
    worker_log.addHandler(failed_claim)
    async with harness_for(database, tmp_path) as harness:
        harness.app.worker.poll_interval_s = 0.05
        await harness.say("/start")
        async with harness.app.db.transaction() as session:
            await session.execute(text("ALTER TABLE jobs RENAME TO jobs_away"))
        try:
            async with asyncio.timeout(10):
                await failed_claim.seen.wait()
        finally:
            worker_log.removeHandler(failed_claim)
        async with harness.app.db.transaction() as session:
            await session.execute(text("ALTER TABLE jobs_away RENAME TO jobs"))
        job_id = await harness.imagine("after the outage")
        assert (await harness.chat.wait_final(job_id)).type == ReplyType.ACTIONS


async def test_the_same_message_delivered_twice_queues_one_job(harness: Harness) -> None:
    """A platform re-sends what it could not confirm before a crash (Telegram's getUpdates does)."""
    incoming = Incoming(harness.user(), ChatRef("test", "private", "alice"), "/imagine a kettle", (), "m-17")
    first, again = await asyncio.gather(
        harness.app.core.dispatch(incoming), harness.app.core.dispatch(incoming)
    )
    assert first[0].job is not None
    assert again[0].job == first[0].job
    other = Incoming(harness.user(), ChatRef("test", "private", "alice"), "/imagine a kettle", (), "m-18")
    assert (await harness.app.core.dispatch(other))[0].job != first[0].job
    await harness.chat.wait_final(first[0].job)
    assert (await harness.balance()).total == 20
    await harness.assert_ledger_consistent()
