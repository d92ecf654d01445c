"""A `[[providers]]` entry of kind "azure" renders through the OpenAI SDK's Azure client, against the
OpenAI double answering as an Azure OpenAI resource: the deployment in the path, the API version in
the query, the resource key in `api-key`."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from core.db.statuses import JobStatus
from core.i18n import translate
from core.messages import ReplyType
from core.policy import CreditSettings
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.harness import harness_for, sqlite_target

API_VERSION = "2025-04-01-preview"


async def test_a_job_on_an_azure_endpoint_succeeds_and_is_charged_once(
    openai_double: OpenAIImagesDouble, tmp_path: Path
) -> None:
    azure = {
        "name": "azure-east",
        "kind": "azure",
        "api_key": "azure-resource-key",
        "base_url": openai_double.azure_endpoint,
        "api_version": API_VERSION,  # no moderation: Azure serves no moderations endpoint, off by default
    }
    async with harness_for(
        sqlite_target(tmp_path),
        tmp_path,
        generation={"provider": "auto", "max_attempts": 1, "timeout_s": 5.0},
        providers=[azure],  # type: ignore[list-item]  # a list section, as the TOML file gives it
    ) as bot:
        job = await bot.imagine("a heron at dawn")
        await bot.chat.wait_final(job)
        assert [reply.type for reply in bot.chat.for_job(job)][-2:] == [ReplyType.IMAGE, ReplyType.ACTIONS]
        done = await bot.job(job)
        assert done.status == JobStatus.SUCCEEDED
        assert (await bot.balance()).total == CreditSettings().trial - 10
        await bot.assert_ledger_consistent()
    [request] = openai_double.requests
    assert request.path == f"/openai/deployments/{done.model}/images/generations"
    assert request.headers["api-key"] == "azure-resource-key"
    assert "Authorization" not in request.headers


async def test_azure_content_filter_refuses_as_a_blocked_prompt_without_another_endpoint(
    openai_double: OpenAIImagesDouble, tmp_path: Path
) -> None:
    azure = {
        "name": "azure-east",
        "kind": "azure",
        "api_key": "azure-resource-key",
        "base_url": openai_double.azure_endpoint,
        "api_version": API_VERSION,
        "weight": 1e6,  # tried first, all but surely
    }
    other = {
        "name": "openai",
        "api_key": "sk-openai",
        "base_url": openai_double.base_url,
        "weight": 1e-6,
        "moderation": False,
    }
    openai_double.block()
    async with harness_for(
        sqlite_target(tmp_path),
        tmp_path,
        generation={"provider": "auto", "max_attempts": 3, "timeout_s": 5.0},
        providers=[azure, other],  # type: ignore[list-item]  # a list section, as the TOML file gives it
    ) as bot:
        job = await bot.imagine("a heron at dawn")
        final = await bot.chat.wait_final(job)
        assert final.text == translate("en", "job.failed.blocked", job=job, credits=10)
        assert (await bot.job(job)).status == JobStatus.FAILED
        assert (await bot.balance()).total == CreditSettings().trial
        await bot.assert_ledger_consistent()
    [request] = openai_double.requests  # no moderation call, and no other endpoint tried
    assert request.path.startswith("/openai/deployments/")


async def test_the_double_refuses_an_azure_request_without_its_key_or_version(
    openai_double: OpenAIImagesDouble,
) -> None:
    url = f"{openai_double.azure_endpoint}/openai/deployments/gpt-image-2/images/generations"
    body = {"model": "gpt-image-2", "prompt": "a heron"}
    async with aiohttp.ClientSession() as client:
        for headers, query in (
            ({"Authorization": "Bearer sk-openai"}, {"api-version": API_VERSION}),
            ({"api-key": "azure-resource-key"}, {}),
        ):
            async with client.post(url, json=body, headers=headers, params=query) as answer:
                assert answer.status == 401
