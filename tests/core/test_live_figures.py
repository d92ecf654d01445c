"""The figures read for metrics: credits by ledger kind stay exact as entries age past the point where
their sums are kept instead of read again."""

from __future__ import annotations

from datetime import timedelta

from core.db.repositories import live_figures as repo
from core.db.types import utcnow
from core.live_figures import Figures
from tests.bot.ops_apps import until
from tests.harness import Harness

SEALED_AFTER = timedelta(seconds=0.2)


async def test_credits_by_kind_count_each_entry_once_as_it_ages(harness: Harness) -> None:
    figures = Figures(harness.app.db, sealed_after=SEALED_AFTER)

    async def truth() -> dict[str, int]:
        async with harness.app.db.read() as session:
            return await repo.credits_by_kind(session)

    await harness.say("/balance")  # the trial grant
    assert (await figures.read()).credits == await truth()
    job_id = await harness.imagine("a paper boat")
    await harness.chat.wait_final(job_id)
    assert (await figures.read()).credits == await truth()

    written = utcnow()
    await until(lambda: utcnow() - written > SEALED_AFTER * 2)  # every entry so far is past the seal
    for _ in range(3):
        assert (await figures.read()).credits == await truth()
    job_id = await harness.imagine("a paper plane")
    await harness.chat.wait_final(job_id)
    assert (await figures.read()).credits == await truth()
    assert (await truth())["trial"] == 40
