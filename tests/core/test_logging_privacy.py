"""Secrets and personal data never reach the logs: no prompts, no keys."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.__main__ import configure_logging
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.harness import DatabaseTarget, harness_for

PROMPT = "my neighbour Jane Doe at 12 Secret Lane"
KEY = "sk-very-secret-key"
OWN_CODE = ("core", "bot", "platforms")


async def test_a_generation_with_failures_logs_neither_the_prompt_nor_the_key(
    database: DatabaseTarget,
    tmp_path: Path,
    openai_double: OpenAIImagesDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_double.fail(500)
    openai_double.fail(400, code="invalid_value")
    async with harness_for(
        database,
        tmp_path,
        openai={"api_key": KEY, "base_url": openai_double.base_url},
        generation={"provider": "openai", "max_attempts": 3},
    ) as bot:
        job_id = await bot.imagine(f"{PROMPT} --style cinema")
        await bot.chat.wait_final(job_id)
        second = await bot.imagine(PROMPT)
        await bot.chat.wait_final(second)
        await bot.say(f"/imagine {PROMPT} --ar 9:1")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in OWN_CODE)
    assert "job" in ours  # the jobs were logged, just not what they were about
    assert "Jane Doe" not in ours
    assert "Secret Lane" not in ours
    assert KEY not in caplog.text  # not from any library either, at any level


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_payload_logging_libraries_only_ever_log_warnings(level: str) -> None:
    """SQLAlchemy logs every statement with its parameters at INFO; httpx logs URLs (with Telegram's
    token in them) at INFO."""
    configure_logging(level)
    assert logging.getLogger("core.generation.worker").isEnabledFor(getattr(logging, level))
    for name in ("aiosqlite", "openai", "httpx", "httpx2", "sqlalchemy.engine", "stripe"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
