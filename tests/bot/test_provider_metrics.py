"""Provider calls and their failures by code in /metrics, through the real OpenAI SDK against the
local Images API double."""

from __future__ import annotations

from pathlib import Path

from tests.bot.metrics_page import Page
from tests.core.generation.test_openai_jobs import openai_bot
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.harness import DatabaseTarget

CALLS = "image2bot_provider_calls_total"
ERRORS = "image2bot_provider_errors_total"


async def test_provider_failures_are_counted_by_code(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(429, code="rate_limit_exceeded", headers={"retry-after": "0"})
    openai_double.fail(500)
    openai_double.block()
    async with openai_bot(database, tmp_path, openai_double, max_attempts=3, timeout_s=2.0) as bot:
        job_id = await bot.imagine("a kite over the dunes")
        await bot.chat.wait_final(job_id)  # blocked at the third attempt
        job_id = await bot.imagine("a kite over the sea")
        await bot.chat.wait_final(job_id)
        assert bot.app.metrics is not None
        page = Page((await bot.app.metrics.page()).decode())

    assert page.value(CALLS, provider="openai") == 4
    assert page.value(ERRORS, provider="openai", code="rate_limited") == 1
    assert page.value(ERRORS, provider="openai", code="server_error") == 1
    assert page.value(ERRORS, provider="openai", code="moderation_blocked") == 1
    assert page.value("image2bot_job_duration_seconds_count", state="failed") == 1
    assert page.value("image2bot_job_duration_seconds_count", state="succeeded") == 1
