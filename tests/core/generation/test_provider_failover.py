"""Several provider endpoints, each a real OpenAI Images double driven by the real SDK, through the
real worker: a job moves to another endpoint on 429/5xx before any refund, is charged once whatever
the number of endpoints tried, and a circuit-broken endpoint gets no request until one probe."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core.db.models import LedgerEntry, ProviderBreaker
from core.db.repositories import endpoints
from core.db.types import utcnow
from core.generation.providers.pool import ProviderPool
from core.i18n import translate
from core.messages import ReplyType
from tests.bot.metrics_page import Page
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.harness import DatabaseTarget, Harness, harness_for

IMAGE_CALLS = ("/v1/images/generations", "/v1/images/edits")
SECONDS = "image2bot_provider_call_seconds_count"
BREAKER = "image2bot_provider_breaker"
HOUR = 3600.0


@asynccontextmanager
async def doubles(count: int) -> AsyncIterator[list[OpenAIImagesDouble]]:
    started = [OpenAIImagesDouble() for _ in range(count)]
    try:
        for double in started:
            await double.start()
        yield started
    finally:
        for double in started:
            await double.close()
    for double in started:
        double.check_violations()


def pool_bot(
    database: DatabaseTarget,
    data_dir: Path,
    endpoints_: list[tuple[str, OpenAIImagesDouble, float]],
    **generation: Any,
) -> AbstractAsyncContextManager[Harness]:
    """The whole bot with one `[[providers]]` entry per (name, double, weight)."""
    return harness_for(
        database,
        data_dir,
        generation={"provider": "auto", "max_attempts": 1, "timeout_s": 5.0, **generation},
        providers=[  # type: ignore[arg-type]  # a list section, as the TOML file gives it
            {
                "name": name,
                "kind": "openai",
                "api_key": f"sk-{name}",
                "base_url": double.base_url,
                "weight": w,
            }
            for name, double, w in endpoints_
        ],
    )


def seeded(bot: Harness, seed: int = 7) -> None:
    """The pool's choice by weight, made repeatable."""
    assert isinstance(bot.app.provider, ProviderPool)
    bot.app.provider.rng.seed(seed)


def answered(double: OpenAIImagesDouble) -> Counter[str]:
    """Images requests by what the double did: `ok` or its fault."""
    return Counter(r.fault or "ok" for r in double.requests if r.path in IMAGE_CALLS)


async def ledger_kinds(bot: Harness, user: str) -> Counter[str]:
    account = await bot.app.core.services.accounts.find("test", user)
    assert account is not None
    async with bot.app.db.transaction() as session:
        kinds = await session.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account.id))
        return Counter(kinds)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_every_job_succeeds_on_the_second_endpoint_when_the_first_answers_429(
    database: DatabaseTarget, tmp_path: Path, language: str
) -> None:
    async with doubles(2) as (limited, healthy):
        limited.outage(HOUR, status=429)
        async with pool_bot(
            database, tmp_path, [("limited", limited, 100), ("healthy", healthy, 1)], breaker_failures=100
        ) as bot:
            seeded(bot)
            users = ["ann", "bob", "cat"]
            jobs = {}
            for user in users:
                [queued] = (await bot.say("/imagine a kite over the dunes", user, locale=language))[:1]
                assert queued.job is not None
                jobs[user] = queued.job
            for user, job_id in jobs.items():
                final = await bot.chat.wait_final(job_id)
                assert final.type == ReplyType.ACTIONS
                assert (await bot.balance(user)).total == 30
                assert await ledger_kinds(bot, user) == Counter(trial=1, reserve=1, settle=1)
                assert not any("temporary problem" in r.text for r in bot.chat.for_job(job_id))
            await bot.assert_ledger_consistent()
            assert bot.app.metrics is not None
            page = Page((await bot.app.metrics.page()).decode())
            assert page.value(SECONDS, provider="healthy", result="ok") == 3
            assert (page.value(SECONDS, provider="limited", result="rate_limited") or 0) >= 2
            assert page.value(BREAKER, provider="limited", state="closed") == 1  # 100 failures to open

    assert answered(healthy) == Counter(ok=3)
    assert answered(limited)["outage"] >= 2  # tried first (weight 100 to 1), then left for the other
    assert answered(limited)["ok"] == 0


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_with_every_endpoint_failing_the_job_is_refunded_once(
    database: DatabaseTarget, tmp_path: Path, language: str
) -> None:
    async with doubles(2) as (first, second):
        first.outage(HOUR, status=429)
        second.outage(HOUR, status=503)
        async with pool_bot(database, tmp_path, [("first", first, 1), ("second", second, 1)]) as bot:
            seeded(bot)
            [queued] = (await bot.say("/imagine a lighthouse", "ann", locale=language))[:1]
            assert queued.job is not None
            final = await bot.chat.wait_final(queued.job)
            assert final.text == translate(language, "job.failed.temporary", job=queued.job, credits=10)
            assert (await bot.balance("ann")).total == 40
            assert await ledger_kinds(bot, "ann") == Counter(trial=1, reserve=1, refund=1)
            await bot.assert_ledger_consistent()

    assert answered(first) == Counter(outage=1)  # each endpoint once, then the refund
    assert answered(second) == Counter(outage=1)


async def test_a_safety_block_is_not_tried_at_another_endpoint(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with doubles(2) as (first, second):
        first.block()
        second.block()
        async with pool_bot(database, tmp_path, [("first", first, 1), ("second", second, 1)]) as bot:
            seeded(bot)
            job_id = await bot.imagine("something the model refuses", "ann")
            final = await bot.chat.wait_final(job_id)
            assert final.text == translate("en", "job.failed.blocked", job=job_id, credits=10)
            assert (await bot.balance("ann")).total == 40

    assert sum(answered(first).values()) + sum(answered(second).values()) == 1


async def breaker(bot: Harness, name: str) -> endpoints.Breaker:
    async with bot.app.db.transaction() as session:
        return (await endpoints.breakers(session)).get(name, endpoints.CLOSED)


async def test_a_broken_endpoint_gets_no_request_until_its_probe_then_exactly_one(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with doubles(2) as (flaky, steady):
        flaky.outage(HOUR, status=503)
        async with pool_bot(
            database,
            tmp_path,
            [("flaky", flaky, 1000), ("steady", steady, 1)],
            breaker_failures=1,
            breaker_open_s=HOUR,
            timeout_s=30.0,
        ) as bot:
            seeded(bot)
            first = await bot.imagine("a lighthouse", "ann")
            assert (await bot.chat.wait_final(first)).type == ReplyType.ACTIONS
            assert answered(flaky) == Counter(outage=1)  # the heavier endpoint first: it failed once
            assert (await breaker(bot, "flaky")).state(utcnow()) == "open"

            for user in ("bob", "cat", "dan"):  # open: everything goes to the other one
                job_id = await bot.imagine("a lighthouse", user)
                assert (await bot.chat.wait_final(job_id)).type == ReplyType.ACTIONS
            assert answered(flaky) == Counter(outage=1)

            flaky.outage(0)  # back in service, and its probe interval is over
            flaky.hang(HOUR)  # the probe takes until released
            async with bot.app.db.transaction() as session:
                await session.execute(
                    update(ProviderBreaker)
                    .where(ProviderBreaker.endpoint == "flaky")
                    .values(open_until=utcnow() - timedelta(seconds=1))
                )
            probe = await bot.imagine("a lighthouse", "eve")
            await flaky.wait_until(lambda: sum(answered(flaky).values()) == 2)
            assert (await breaker(bot, "flaky")).state(utcnow()) == "probing"
            while_probing = await bot.imagine("a lighthouse", "fay")  # must not go to the probing one
            assert (await bot.chat.wait_final(while_probing)).type == ReplyType.ACTIONS
            assert sum(answered(flaky).values()) == 2

            flaky.release_hangs()
            assert (await bot.chat.wait_final(probe)).type == ReplyType.ACTIONS
            assert (await breaker(bot, "flaky")).state(utcnow()) == "closed"
            after = await bot.imagine("a lighthouse", "gus")  # closed: the heavier one again
            assert (await bot.chat.wait_final(after)).type == ReplyType.ACTIONS
            assert bot.app.metrics is not None
            page = Page((await bot.app.metrics.page()).decode())
            assert page.value(BREAKER, provider="flaky", state="closed") == 1
            assert page.value(BREAKER, provider="flaky", state="open") == 0
            assert page.value(SECONDS, provider="flaky", result="server_error") == 1

    assert answered(flaky) == Counter(outage=1, hang=1, ok=1)
    assert answered(steady) == Counter(ok=5)
