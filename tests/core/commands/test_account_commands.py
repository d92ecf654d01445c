"""`/balance`, `/history` and `/cancel`, as a user sees them: the replies and the ledger.

Runs on SQLite and PostgreSQL through the real core. Messages are compared with the catalog text.
"""

from __future__ import annotations

from core.i18n.local_time import Clock
from tests.core.commands.chat import (
    answer,
    en,
    error,
    finished_job,
    says,
)
from tests.harness import Harness

# --- /balance and /history -----------------------------------------------------------------------


async def test_balance_shows_both_buckets_and_the_recent_changes(harness: Harness) -> None:
    job = await finished_job(harness, "a lighthouse at dusk")
    lines = (await says(harness, "/balance")).splitlines()
    assert lines[0] == en("balance.total", total=30)
    assert en("balance.subscription", amount=0) in lines
    assert en("balance.one_time", amount=30) in lines
    assert en("balance.prices", k1=10, k2=20, k4=40) in lines
    recent = lines[lines.index(en("balance.recent")) + 1 :]
    assert any("+40" in line and en("ledger.trial") in line for line in recent), recent
    image_lines = [line for line in recent if "-10" in line]
    assert len(image_lines) == 1, recent
    assert f"{en('ledger.reserve')} #{job}" in image_lines[0]
    contact = harness.app.core.services.privacy.settings.contact
    assert lines[-1] == en("buy.unavailable") + " " + en("credits.help", contact=contact)


async def test_history_is_empty_and_then_lists_the_finished_job(harness: Harness) -> None:
    assert await says(harness, "/history") == en("history.empty")
    job_id = await finished_job(harness, "a lighthouse at dusk")
    job = await harness.job(job_id)
    lines = (await says(harness, "/history")).splitlines()
    assert lines[0] == en("history.title")
    assert lines[1:] == [
        en(
            "history.line",
            icon="✅",
            job=job_id,
            status=en("status.succeeded"),
            width=1024,
            height=1024,
            style="None (as written)",  # the style's label
            prompt="a lighthouse at dusk",
            when=Clock("en", "UTC").moment(job.created_at),
        ),
        en("local_time.zone_note", zone="UTC"),
    ]
    assert f"#{job_id}" in lines[1]


async def test_history_is_private_to_each_user(idle: Harness) -> None:
    await idle.imagine("a secret garden", "bob")
    assert await says(idle, "/history", "alice") == en("history.empty")


# --- /cancel -------------------------------------------------------------------------------------


async def test_cancel_with_nothing_to_cancel(harness: Harness) -> None:
    assert await says(harness, "/cancel") == error("nothing_to_cancel")


async def test_cancelling_a_queued_job_restores_its_credits(idle: Harness) -> None:
    job = await idle.imagine("a red fox --res 2k")
    assert (await idle.balance()).total == 20
    reply = await answer(idle, f"/cancel {job}")
    assert reply.text == en("cancel.done", job=job, credits=20, balance=40)
    assert reply.final
    assert reply.job == job
    assert (await idle.balance()).total == 40
    assert (await idle.job(job)).status == "cancelled"
    assert en("status.cancelled") in await says(idle, "/history")
    await idle.assert_ledger_consistent()


async def test_cancel_without_a_number_cancels_the_latest_active_job(idle: Harness) -> None:
    first = await idle.imagine("first")
    second = await idle.imagine("second")
    reply = await answer(idle, "/cancel")
    assert reply.job == second
    assert reply.text == en("cancel.done", job=second, credits=10, balance=30)
    reply = await answer(idle, f"/cancel #{first}")
    assert reply.text == en("cancel.done", job=first, credits=10, balance=40)
    assert await says(idle, "/cancel") == error("nothing_to_cancel")
    await idle.assert_ledger_consistent()


async def test_cancel_refuses_unknown_and_malformed_job_numbers(idle: Harness) -> None:
    assert await says(idle, "/cancel 999") == error("job_not_found", job=999)
    assert await says(idle, "/cancel abc") == error("bad_job_id", value="abc")
    assert await says(idle, "/cancel 1234567890123") == error("bad_job_id", value="1234567890123")


async def test_cancelling_someone_elses_job_reveals_nothing_and_changes_nothing(idle: Harness) -> None:
    job = await idle.imagine("bob's cat", "bob")
    mine = await idle.imagine("alice's cat", "alice")
    assert await says(idle, f"/cancel {job}", "alice") == error("job_not_found", job=job)
    assert (await idle.job(job)).status == "queued"
    assert (await idle.job(mine)).status == "queued"
    assert (await idle.balance("bob")).total == 30
    assert (await idle.balance("alice")).total == 30
    await idle.assert_ledger_consistent()


async def test_a_finished_job_cannot_be_cancelled(harness: Harness) -> None:
    job = await finished_job(harness, "a lighthouse")
    assert await says(harness, f"/cancel {job}") == error("job_not_cancellable", job=job)
    assert (await harness.balance()).total == 30
    await harness.assert_ledger_consistent()
