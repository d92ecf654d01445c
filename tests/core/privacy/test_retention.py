"""The daily purge: expired images, uploads, failed-job prompts, closed tickets and exports go; accounts
under a legal hold keep everything; 0 keeps a kind of data for good."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from core.db.models import SupportTicket
from core.db.repositories import support as support_repo
from core.db.types import utcnow
from core.messages import Attachment, Stage
from core.privacy.retention import Purged, Retention
from core.privacy.settings import RetentionSettings
from tests.core.privacy.conftest import EITHER_STORE
from tests.core.privacy.helpers import accepted, account_id, database_text, en
from tests.harness import Harness

LATER = timedelta(days=400)


def upload(color: tuple[int, int, int]) -> Attachment:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    data = buffer.getvalue()

    async def fetch() -> bytes:
        return data

    return Attachment("ref.png", fetch, len(data))


async def a_history(harness: Harness, user: str, color: tuple[int, int, int]) -> dict[str, Any]:
    """A finished image from an upload, a cancelled job, a closed ticket and an export."""
    await accepted(harness, user)
    replies = await harness.say(f"/imagine {user}'s kept picture", user, attachments=(upload(color),))
    assert replies[0].stage == Stage.QUEUED
    assert replies[0].job is not None
    await harness.chat.wait_final(replies[0].job)
    cancelled = await harness.imagine(f"{user}'s abandoned idea", user)
    await harness.say(f"/cancel {cancelled}", user)
    await harness.say(f"/support {user} asks something", user)
    await harness.say("/export", user)
    account = await account_id(harness, user)
    async with harness.app.db.transaction() as session:
        ticket = await support_repo.open_ticket(session, account)
        assert ticket is not None
        await support_repo.close(session, ticket.id, utcnow())
    job = await harness.job(replies[0].job)
    return {"job": job.id, "output": job.outputs[0], "upload": job.references[0]}


@EITHER_STORE
async def test_the_purge_removes_what_expired_and_spares_accounts_under_legal_hold(
    gated: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    mine = await a_history(gated, "alice", (255, 0, 0))
    held = await a_history(gated, "carol", (0, 0, 255))
    privacy = gated.app.core.services.privacy
    await privacy.consents.hold(await account_id(gated, "carol"), "audit 9", actor="cli:operator")
    storage = gated.app.core.services.storage
    orphan = "outputs/job-999999-1.png"
    await storage.store.put(orphan, b"left behind")

    # after 29 days only the exports (kept a day, hold or not) and the orphaned file are gone
    early = await privacy.retention.purge(utcnow() + timedelta(days=29))
    assert early == Purged(exports=2, orphans=1, deliveries=early.deliveries)
    assert early.deliveries >= 1  # delivered outbox rows repeat captions: kept a day
    with caplog.at_level(logging.INFO):
        purged = await privacy.retention.purge(utcnow() + LATER)

    # the cancelled job's image too, when the worker had drawn it before the cancel landed
    assert purged.outputs in (1, 2)
    expected = Purged(outputs=purged.outputs, uploads=1, prompts=1, tickets=1, deliveries=purged.deliveries)
    assert purged == expected
    assert not await storage.exists(mine["output"])
    assert not await storage.exists(mine["upload"])
    assert not await storage.exists(orphan)
    assert await storage.exists(held["output"])
    assert await storage.exists(held["upload"])
    text = await database_text(gated)
    assert "alice's abandoned idea" not in text
    assert "carol's abandoned idea" in text
    assert "alice's kept picture" in text  # finished jobs keep their history; only the files expire
    assert "alice asks something" not in text
    assert "carol asks something" in text
    assert [page async for page in storage.store.listing("exports/export-")] == []
    [gone] = await gated.say(f"/original {mine['job']}")
    assert gone.text == en("error.output_gone", job=mine["job"])
    log = caplog.text
    assert "retention purge" in log
    for private in ("alice", "carol", "picture", "idea"):
        assert private not in log


async def test_a_period_of_zero_keeps_that_data(gated: Harness) -> None:
    mine = await a_history(gated, "alice", (0, 255, 0))
    keep = RetentionSettings(outputs_days=0, uploads_days=0, failed_job_details_days=0, support_days=0)
    services = gated.app.core.services
    purged = await Retention(gated.app.db, services.storage, keep).purge(utcnow() + LATER)
    assert (purged.outputs, purged.uploads, purged.prompts, purged.tickets) == (0, 0, 0, 0)
    assert await services.storage.exists(mine["output"])
    assert await services.storage.exists(mine["upload"])
    assert "alice's abandoned idea" in await database_text(gated)
    async with gated.app.db.transaction() as session:
        assert await session.get(SupportTicket, 1) is not None
