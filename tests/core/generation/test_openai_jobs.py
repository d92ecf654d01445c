"""Generations through the real OpenAI SDK against the local Images API double, end to end:
what the request carries, and how each kind of provider failure ends for the user and the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest_asyncio

from core.accounts import safety_identifier
from core.generation.styles import DEFAULT_STYLES
from core.i18n import translate
from core.messages import ActionKind, ReplyType
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.harness import DatabaseTarget, Harness, harness_for

IMAGE_CALLS = ("/v1/images/generations", "/v1/images/edits")


def openai_bot(
    database: DatabaseTarget, data_dir: Path, double: OpenAIImagesDouble, **generation: object
) -> AbstractAsyncContextManager[Harness]:
    """The whole bot on the OpenAI provider, pointed at the local Images API double."""
    return harness_for(
        database,
        data_dir,
        openai={"api_key": "sk-test-key", "base_url": double.base_url},
        generation={"provider": "openai", **generation},
    )


@pytest_asyncio.fixture
async def bot(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> AsyncIterator[Harness]:
    async with openai_bot(database, tmp_path, openai_double, max_attempts=3, timeout_s=2.0) as harness:
        yield harness


def image_calls(double: OpenAIImagesDouble) -> list[dict[str, object]]:
    return [request.fields for request in double.requests if request.path in IMAGE_CALLS]


async def test_the_request_carries_model_size_styled_prompt_and_a_hashed_safety_id(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    job_id = await bot.imagine("a red fox in snow --ar 16:9 --style cinema")
    final = await bot.chat.wait_final(job_id)
    assert final.type == ReplyType.ACTIONS
    [fields] = image_calls(openai_double)
    cinema = next(style for style in DEFAULT_STYLES if style.name == "cinema")
    account = await bot.app.core.services.accounts.find("test", "alice")
    assert account is not None
    assert fields["model"] == "gpt-image-2"
    assert fields["size"] == "1360x768"
    assert fields["prompt"] == cinema.apply("a red fox in snow")
    assert fields["safety_identifier"] == safety_identifier(account.id)
    assert str(account.id) != fields["safety_identifier"]
    assert (await bot.balance()).total == 30


async def test_a_server_error_on_every_attempt_restores_the_credits_with_a_clear_message(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(500, times=3)
    job_id = await bot.imagine("a lighthouse")
    final = await bot.chat.wait_final(job_id)
    assert final.text == translate("en", "job.failed.temporary", job=job_id, credits=10)
    assert len(image_calls(openai_double)) == 3
    retry_notices = [reply for reply in bot.chat.for_job(job_id) if "temporary problem" in reply.text]
    assert len(retry_notices) == 3  # two "trying again" notices, then the refund
    assert (await bot.balance()).total == 40
    await bot.assert_ledger_consistent()


async def test_a_passing_failure_is_retried_and_charged_once(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(429, headers={"retry-after": "0"})
    openai_double.fail(503)
    job_id = await bot.imagine("a lighthouse")
    final = await bot.chat.wait_final(job_id)
    assert final.type == ReplyType.ACTIONS
    assert len(image_calls(openai_double)) == 3
    assert (await bot.job(job_id)).attempts == 3
    assert (await bot.balance()).total == 30
    await bot.assert_ledger_consistent()


async def test_a_timeout_counts_as_a_temporary_failure(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.hang(5.0, times=2)
    async with openai_bot(database, tmp_path, openai_double, max_attempts=2, timeout_s=0.3) as bot:
        job_id = await bot.imagine("a lighthouse")
        final = await bot.chat.wait_final(job_id)
        assert final.text == translate("en", "job.failed.temporary", job=job_id, credits=10)
        assert (await bot.balance()).total == 40
        await bot.assert_ledger_consistent()


async def test_a_safety_block_refunds_without_retrying(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.block()
    job_id = await bot.imagine("something the model refuses")
    final = await bot.chat.wait_final(job_id)
    assert final.text == translate("en", "job.failed.blocked", job=job_id, credits=10)
    assert len(image_calls(openai_double)) == 1
    assert (await bot.balance()).total == 40
    await bot.assert_ledger_consistent()


async def test_a_permanent_error_refunds_with_a_reference_id(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(400, code="invalid_value")
    job_id = await bot.imagine("a lighthouse")
    final = await bot.chat.wait_final(job_id)
    job = await bot.job(job_id)
    assert job.status == "failed"
    assert job.error_ref
    assert final.text == translate("en", "job.failed.provider", job=job_id, credits=10, ref=job.error_ref)
    assert len(image_calls(openai_double)) == 1
    assert (await bot.balance()).total == 40


async def test_a_malformed_answer_is_refunded(bot: Harness, openai_double: OpenAIImagesDouble) -> None:
    openai_double.malformed()
    job_id = await bot.imagine("a lighthouse")
    await bot.chat.wait_final(job_id)
    assert (await bot.job(job_id)).error_code == "provider"
    assert (await bot.balance()).total == 40


async def test_a_flagged_prompt_is_refused_before_anything_is_reserved(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts.add("forbidden")
    replies = await bot.say("/imagine something forbidden")
    assert replies[0].text == translate("en", "error.prompt_blocked")
    assert image_calls(openai_double) == []
    assert (await bot.balance()).total == 40
    account = await bot.app.core.services.accounts.find("test", "alice")
    assert account is not None
    assert await bot.jobs_of(account.id) == []


async def test_repeated_safety_blocks_pause_generation_for_the_account(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts.add("forbidden")
    for _ in range(5):
        await bot.say("/imagine forbidden thing")
    replies = await bot.say("/imagine a harmless kitten")
    assert replies[0].stage is None
    # Five strikes just now: the oldest of them leaves the 24-hour window in about a day.
    assert replies[0].text in {
        translate("en", "error.safety_cooldown", wait=w) for w in ("23 hours, 59 minutes", "24 hours")
    }
    assert (await bot.balance()).total == 40
    other = await bot.say("/imagine a harmless kitten", "bob")
    assert other[0].stage is not None  # another account is not affected


async def test_upscale_edits_with_the_result_as_reference(
    bot: Harness, openai_double: OpenAIImagesDouble
) -> None:
    job_id = await bot.imagine("a castle")
    await bot.chat.wait_final(job_id)
    replies = await bot.press(job_id, ActionKind.UPSCALE_2K)
    upscale_id = replies[0].job
    assert upscale_id is not None
    await bot.chat.wait_final(upscale_id)
    edit = openai_double.requests[-1]
    assert edit.path == "/v1/images/edits"
    assert edit.fields["size"] == "2048x2048"
    parent = await bot.job(job_id)
    assert [content for _, _, content in edit.files] == [await bot.app.storage.read(parent.outputs[0])]
    assert (await bot.balance()).total == 40 - 10 - 20
    await bot.assert_ledger_consistent()
