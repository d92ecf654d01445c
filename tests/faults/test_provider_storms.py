"""Provider storms through the real SDK and the OpenAI double: many jobs from several users while the
provider rate-limits, errs, hangs or garbles its answers. Retries stay within the attempt budget and
the provider's `retry-after`; every job ends drawn and charged once, or refunded with a translated
"temporary problem" message; no job stays queued or running."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
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

RETRY_AFTER_S = 1
# What a hanging answer costs an attempt: long enough that a busy machine never times out an ordinary
# answer (0.3 s did once in CI, and the attempt it cost went unseen by the double), short enough that
# the hanging faults end soon.
ATTEMPT_TIMEOUT_S = 1.0
STORM = 6  # 429s in a row: every one of the first wave of jobs meets one


async def test_a_429_storm_is_waited_out_as_retry_after_asks_and_each_job_is_charged_once(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(
        429, code="rate_limit_exceeded", headers={"retry-after": str(RETRY_AFTER_S)}, times=STORM
    )
    settings = {"concurrency": 4, "max_attempts": 3, "retry_backoff_s": 0.05, "retry_backoff_max_s": 5.0}
    async with openai_bot(database, tmp_path, openai_double, **settings) as bot:
        jobs = await submit(bot, {user: [f"{user} storm {i}" for i in range(3)] for user in USERS})
        ended = await finals(bot, jobs)

        limited = 0
        for job in jobs:
            await assert_charged_once(bot, job.job, ended[job.job])
            calls = attempts(openai_double, job.prompt)
            assert calls[-1].fault is None
            for refused, retried in pairwise(calls):
                assert refused.fault == "http 429"
                assert retried.at - refused.at >= RETRY_AFTER_S, "retried before retry-after"
                limited += 1
        assert limited == STORM
        await assert_everyone_paid_for_what_was_drawn(bot, jobs)


# How to script each kind of passing fault for the next `times` requests of one prompt. One image is
# streamed (previews, then the image as an event); several come in one JSON body.
FAULTS: dict[str, Callable[[OpenAIImagesDouble, int, str], None]] = {
    "http 500": lambda double, times, prompt: double.fail(500, times=times, prompt=prompt),
    "http 502": lambda double, times, prompt: double.fail(502, times=times, prompt=prompt),
    "hang": lambda double, times, prompt: double.hang(60, times=times, prompt=prompt),
    "garble": lambda double, times, prompt: double.garble(times, prompt=prompt),
    "cut": lambda double, times, prompt: double.cut(times, prompt=prompt),
    "truncate_stream": lambda double, times, prompt: double.truncate_stream(times, prompt=prompt),
    "stream_error": lambda double, times, prompt: double.stream_error(times, prompt=prompt),
    "reset": lambda double, times, prompt: double.reset(times, prompt=prompt),
}
WHOLE_BODY_FAULTS = ("garble", "cut")
ATTEMPTS = 3


async def test_every_kind_of_passing_fault_is_retried_within_the_budget_then_refunded_clearly(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    """For each kind, one job meets it on every attempt (refunded) and one only once (drawn)."""
    cases = [
        (f"{answer} {fault} x{times}", fault, times)
        for answer, kinds in (("streamed", tuple(FAULTS)), ("whole", WHOLE_BODY_FAULTS))
        for fault in kinds
        for times in (ATTEMPTS, 1)
    ]
    faults = {prompt: (fault, times) for prompt, fault, times in cases}
    commands: dict[str, list[str]] = {user: [] for user in (*USERS, "eve", "fay")}
    for number, (prompt, fault, times) in enumerate(cases):
        FAULTS[fault](openai_double, times, prompt)
        if prompt.startswith("whole"):  # two images: 20 credits, a user can pay for two such jobs
            commands[("eve", "fay")[number % 2]].append(f"{prompt} --n 2")
        else:
            commands[USERS[number % len(USERS)]].append(prompt)
    settings = {
        "concurrency": 4,
        "max_attempts": ATTEMPTS,
        "timeout_s": ATTEMPT_TIMEOUT_S,
        "retry_backoff_s": 0.05,
        "retry_backoff_max_s": 0.2,
    }
    async with openai_bot(database, tmp_path, openai_double, **settings) as bot:
        jobs = await submit(bot, commands)
        ended = await finals(bot, jobs)

        for job in jobs:
            fault, times = faults[job.prompt]
            met = [call.fault for call in attempts(openai_double, job.prompt)]
            if times == ATTEMPTS:
                assert met == [fault] * ATTEMPTS, job.prompt
                await assert_refunded_as_temporary(bot, job.job, ended[job.job])
            else:
                assert met == [fault, None], job.prompt
                await assert_charged_once(bot, job.job, ended[job.job])
        await assert_everyone_paid_for_what_was_drawn(bot, jobs)


async def test_a_provider_that_never_finishes_holds_no_job_and_no_slot(
    database: DatabaseTarget, tmp_path: Path, openai_double: OpenAIImagesDouble
) -> None:
    """Every request hangs for good, or streams previews for good (no read timeout ever fires):
    each attempt is abandoned at `timeout_s`, so twice as many jobs as there are slots all end,
    refunded, and the pool then draws a new job at once."""
    forever = {"ann": "hang", "ben": "hang", "cai": "drip", "dee": "drip"}
    for user, kind in forever.items():
        if kind == "hang":
            openai_double.hang(3600, times=2, prompt=f"{user} waits")
        else:
            openai_double.drip(times=2, prompt=f"{user} waits")
    settings = {
        "concurrency": 2,
        "max_attempts": 2,
        "timeout_s": ATTEMPT_TIMEOUT_S,
        "retry_backoff_s": 0.05,
        "retry_backoff_max_s": 0.1,
    }
    async with openai_bot(database, tmp_path, openai_double, **settings) as bot:
        jobs = await submit(bot, {user: [f"{user} waits"] for user in USERS})
        ended = await finals(bot, jobs)
        for job in jobs:
            faults = [call.fault for call in attempts(openai_double, job.prompt)]
            assert faults == [forever[job.user]] * 2
            await assert_refunded_as_temporary(bot, job.job, ended[job.job])

        [after] = await submit(bot, {"ann": ["ann after"]})
        await assert_charged_once(bot, after.job, (await finals(bot, [after]))[after.job])
        await assert_everyone_paid_for_what_was_drawn(bot, [*jobs, after])
