"""A provider down for a minute, scaled down: the Images API answers 503, then drops every
connection, until the test brings it back. Jobs caught in it end by their attempt budget (refunded
when every attempt fell inside the outage, drawn when one came after it), nothing is left queued or
running, and jobs submitted once the provider is back are drawn at the first attempt.

The outage ends on an event (every late job has met it once), not after a fixed time, so that a
loaded machine cannot move attempts across its end."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.openai_images import OpenAIImagesDouble
from tests.faults.helpers import (
    USERS,
    assert_charged_once,
    assert_everyone_paid_for_what_was_drawn,
    assert_refunded_as_temporary,
    attempts,
    finals,
    openai_bot,
    submit,
)
from tests.harness import DatabaseTarget

ATTEMPTS = 3
# A job that has met the outage once still has at least 0.3 + 0.6 s before its last attempt.
SETTINGS = {"concurrency": 4, "max_attempts": ATTEMPTS, "retry_backoff_s": 0.3, "retry_backoff_max_s": 0.6}
A_MINUTE = 60.0


async def test_jobs_caught_in_an_outage_end_by_their_attempt_budget_and_the_pool_recovers(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    async with openai_bot(database, tmp_path, openai_double, **SETTINGS) as bot:
        openai_double.outage(A_MINUTE, status=503)
        early = await submit(bot, {user: [f"{user} early"] for user in USERS})
        ended = await finals(bot, early)
        for job in early:
            assert [call.fault for call in attempts(openai_double, job.prompt)] == ["outage"] * ATTEMPTS
            await assert_refunded_as_temporary(bot, job.job, ended[job.job])

        openai_double.outage(A_MINUTE, status=None)  # worse: connections are dropped now
        late = await submit(bot, {user: [f"{user} late"] for user in USERS})
        await openai_double.wait_until(lambda: all(attempts(openai_double, job.prompt) for job in late))
        openai_double.outage(0)  # the provider is back
        ended = await finals(bot, late)
        for job in late:
            faults = [call.fault for call in attempts(openai_double, job.prompt)]
            assert faults[0] == "outage"
            assert faults[-1] is None
            assert len(faults) <= ATTEMPTS
            await assert_charged_once(bot, job.job, ended[job.job])

        after = await submit(bot, {user: [f"{user} after"] for user in USERS})
        ended = await finals(bot, after)
        for job in after:
            assert [call.fault for call in attempts(openai_double, job.prompt)] == [None]
            await assert_charged_once(bot, job.job, ended[job.job])
        await assert_everyone_paid_for_what_was_drawn(bot, early + late + after)
