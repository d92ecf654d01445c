"""The bot under faults: many jobs from several users at once on the OpenAI double, with backoffs and
timeouts scaled down so a storm passes in a second or two, and what the jobs, the chat and the ledger
say once it is over."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from core import credits
from core.i18n import translate
from core.messages import Reply, ReplyType
from tests.fakes.openai_images import OpenAIImagesDouble, RecordedRequest
from tests.harness import DatabaseTarget, Harness, harness_for

USERS = ("ann", "ben", "cai", "dee")
TRIAL = 40
OUTBOX_POLL_S = 0.02  # how often the outbox looks for due retries, so that its backoff alone decides
IMAGE_PATHS = ("/v1/images/generations", "/v1/images/edits")


def openai_bot(
    database: DatabaseTarget, data_dir: Path, double: OpenAIImagesDouble, **generation: object
) -> AbstractAsyncContextManager[Harness]:
    """The whole bot on the OpenAI provider, pointed at the double; `generation` scales the retries.
    The prompt check is off (its failures have tests of their own) and one preview is streamed."""
    return harness_for(
        database,
        data_dir,
        openai={"api_key": "sk-test-key", "base_url": double.base_url, "moderation": False},
        generation={"provider": "openai", "partial_images": 1, **generation},
    )


@dataclass(frozen=True, slots=True)
class Submitted:
    job: int
    user: str
    prompt: str  # unique to the job, so the double's record tells its attempts apart


async def submit(bot: Harness, commands: dict[str, list[str]]) -> list[Submitted]:
    """Every user's `/imagine <prompt> [--flags]` at once."""

    async def one(user: str, command: str) -> Submitted:
        return Submitted(await bot.imagine(command, user), user, command.split(" --", 1)[0])

    return list(await asyncio.gather(*(one(user, c) for user, listed in commands.items() for c in listed)))


async def finals(bot: Harness, jobs: list[Submitted]) -> dict[int, Reply]:
    """The last reply of each job, once every one of them has ended."""
    replies = await asyncio.gather(*(bot.chat.wait_final(job.job) for job in jobs))
    return {job.job: reply for job, reply in zip(jobs, replies, strict=True)}


def attempts(double: OpenAIImagesDouble, prompt: str) -> list[RecordedRequest]:
    """The images requests one job made, in the order they arrived."""
    return [call for call in double.requests if call.path in IMAGE_PATHS and prompt in call.prompt]


async def hold_entries(bot: Harness, job_id: int) -> list[str]:
    """The kinds of the ledger entries of a job's hold, sorted: a reserve and exactly one closing."""
    job = await bot.job(job_id)
    async with bot.app.db.transaction() as session:
        entries = await credits.all_entries(session, job.account_id)
    return sorted(str(e.kind) for e in entries if e.idempotency_key.startswith(f"hold:{job.hold_id}:"))


async def assert_charged_once(bot: Harness, job_id: int, reply: Reply) -> None:
    """The job drew its image and its hold was settled, once."""
    assert reply.type == ReplyType.ACTIONS, reply.text
    assert (await bot.job(job_id)).status == "succeeded"
    assert await hold_entries(bot, job_id) == ["reserve", "settle"]


async def assert_refunded_as_temporary(bot: Harness, job_id: int, reply: Reply) -> None:
    """The job failed on a passing problem: the user reads so, with the credits back, no reference id."""
    job = await bot.job(job_id)
    assert reply.text == translate("en", "job.failed.temporary", job=job_id, credits=job.cost)
    assert (job.status, job.error_code, job.error_ref) == ("failed", "temporary", None)
    assert await hold_entries(bot, job_id) == ["refund", "reserve"]


async def assert_everyone_paid_for_what_was_drawn(bot: Harness, jobs: list[Submitted]) -> None:
    """No job is left queued or running; each user paid for exactly their drawn images; the cached
    balances equal the ledger's sums and every hold is closed once."""
    ended = {job.job: await bot.job(job.job) for job in jobs}
    assert {job.status for job in ended.values()} <= {"succeeded", "failed"}
    for user in {job.user for job in jobs}:
        spent = sum(ended[j.job].cost for j in jobs if j.user == user and ended[j.job].status == "succeeded")
        assert (await bot.balance(user)).total == TRIAL - spent, user
    await bot.assert_ledger_consistent()
