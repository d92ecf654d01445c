"""`/privacy keep off`: an account's prompts, uploads and images are erased `unkept_hours` after each
result, what was older is erased at the next run, another account keeps everything, the ledger stays,
and an erased result's buttons answer clearly without charging; `/privacy keep on` keeps what comes next."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select, update

from core.db import leases
from core.db.models import ConsentRecord, Job, JobReference
from core.db.statuses import JobStatus
from core.db.types import utcnow
from core.i18n import translate
from core.messages import ActionKind, ActionPress, Attachment, ChatRef, Incoming, Reply, UserRef
from tests.bot.ops_apps import until
from tests.core.privacy.conftest import EITHER_STORE
from tests.core.privacy.helpers import accepted, account_id, database_text
from tests.harness import Harness

HOURS = 24  # the default `unkept_hours`
LATER = timedelta(hours=HOURS + 1)
CATALOG = {"en": "en", "zh-CN": "zh-CN"}


def upload(color: tuple[int, int, int]) -> Attachment:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    data = buffer.getvalue()

    async def fetch() -> bytes:
        return data

    return Attachment("ref.png", fetch, len(data))


async def say(harness: Harness, message: str, language: str, user: str = "alice") -> Reply:
    replies = await harness.say(message, user, locale=language)
    assert len(replies) == 1, [reply.text for reply in replies]
    return replies[0]


async def drawn(
    harness: Harness,
    prompt: str,
    language: str,
    user: str = "alice",
    color: tuple[int, int, int] | None = None,
) -> int:
    """A finished job, from an upload when `color` is given."""
    attachments = (upload(color),) if color else ()
    replies = await harness.say(f"/imagine {prompt}", user, locale=language, attachments=attachments)
    job = replies[0].job
    assert job is not None, replies[0].text
    await harness.chat.wait_final(job)
    assert (await harness.job(job)).status == JobStatus.SUCCEEDED
    return job


async def files_of(harness: Harness, job_id: int) -> list[str]:
    """Every file of the job that is stored: outputs, previews, uploads."""
    job = await harness.job(job_id)
    storage = harness.app.core.services.storage
    names = {*job.outputs, *job.references, *storage.job_files(job.id, job.n)}
    return sorted([name for name in names if await storage.exists(name)])


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_keep_off_erases_that_accounts_content_after_the_window_and_only_that(
    gated: Harness, language: str
) -> None:
    def t(key: str, **params: object) -> str:
        return translate(CATALOG[language], key, **params)

    for user in ("alice", "bob"):
        await accepted(gated, user)
    before = await drawn(gated, "a fox made before the switch", language, color=(200, 10, 10))
    stored_before = await files_of(gated, before)
    assert len(stored_before) >= 2  # the image and the upload

    switched = await say(gated, "/privacy keep off", language)
    assert switched.text == t("privacy.keep.off", hours=HOURS)
    assert switched.private
    after = await drawn(gated, "a heron made after the switch", language, color=(10, 200, 10))
    stored_after = await files_of(gated, after)
    kept = await drawn(gated, "bob keeps his owl", language, user="bob", color=(10, 10, 200))
    stored_kept = await files_of(gated, kept)
    alice = await account_id(gated)
    balance = (await gated.balance()).total

    unkept = gated.app.core.services.privacy.unkept
    assert await unkept.erase_due(utcnow() + timedelta(hours=HOURS - 1)) == 0  # not yet
    assert "a heron made after the switch" in await database_text(gated)
    assert await unkept.erase_due(utcnow() + LATER) == 2

    text = await database_text(gated)
    for prompt in ("a fox made before the switch", "a heron made after the switch"):
        assert prompt not in text
    assert "bob keeps his owl" in text
    storage = gated.app.core.services.storage
    assert not [name for name in (*stored_before, *stored_after) if await storage.exists(name)]
    assert [name for name in stored_kept if await storage.exists(name)] == stored_kept
    for job_id in (before, after):  # the rows stay for the ledger
        job = await gated.job(job_id)
        assert (job.status, job.cost, job.outputs, job.references) == (JobStatus.SUCCEEDED, 10, [], [])
        assert job.erased_at is not None
    async with gated.app.db.read() as session:
        assert set(await session.scalars(select(JobReference.job_id))) == {kept}
    await gated.assert_ledger_consistent()

    # the buttons and /original of an erased result answer clearly and charge nothing
    for kind in (ActionKind.REROLL, ActionKind.UPSCALE_2K, ActionKind.VARY):
        [refused] = await gated.app.core.on_action(
            ActionPress(gated.user("alice", language), ChatRef("test", "private", "alice"), after, kind, 1)
        )
        assert refused.text == t("error.job_erased", job=after)
    refused = await say(gated, f"/original {before}", language)
    assert refused.text == t("error.job_erased", job=before)
    refused = await say(gated, f"/action {before} reroll", language)
    assert refused.text == t("error.job_erased", job=before)
    assert (await gated.balance()).total == balance
    assert len(await gated.jobs_of(alice)) == 2

    history = await say(gated, "/history", language)
    job = await gated.job(after)
    line = t(
        "history.line_erased",
        icon="✅",
        job=after,
        status=t("status.succeeded"),
        width=job.width,
        height=job.height,
        style=gated.app.core.services.styles.label_of(job.style, language),
        when="",
    )
    assert line in history.text  # the time is the reader's own: its formats have tests of their own
    assert "heron" not in history.text
    assert "fox" not in history.text

    exports = gated.app.core.services.privacy.exports
    export = await exports.read(await exports.for_operator(alice, actor="cli:test"))
    with zipfile.ZipFile(io.BytesIO(export)) as archive:
        names = archive.namelist()
        data = json.loads(archive.read("data.json"))
    assert names == ["data.json"]
    assert "heron" not in json.dumps(data, ensure_ascii=False)
    assert [job["kept"] for job in data["jobs"]] == [False, False]
    assert data["profile"]["keep_history"] is False
    assert await unkept.erase_due(utcnow() + LATER) == 0  # done once


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_keep_on_again_keeps_what_comes_next_and_every_choice_is_recorded(
    gated: Harness, language: str
) -> None:
    def t(key: str, **params: object) -> str:
        return translate(CATALOG[language], key, **params)

    await accepted(gated)
    shown = await say(gated, "/privacy", language)
    assert shown.text.endswith(t("privacy.keep.state_on", hours=HOURS))
    commands = [choice.command for row in shown.choices for choice in row]
    assert commands[-2:] == ["/privacy keep on", "/privacy keep off"]

    await say(gated, "/隐私 保留 关闭" if language == "zh-CN" else "/privacy keep off", language)
    made_off = await drawn(gated, "made while off", language)
    shown = await say(gated, "/privacy", language)
    assert shown.text.endswith(t("privacy.keep.state_off", hours=HOURS))
    profile = await say(gated, "/profile", language)
    assert t("privacy.keep.profile_off", hours=HOURS) in profile.text

    again = await say(gated, "/privacy keep on", language)
    assert again.text == t("privacy.keep.on", hours=HOURS)
    same = await say(gated, "/privacy keep on", language)
    assert same.text.startswith(t("privacy.consent.unchanged"))
    made_on = await drawn(gated, "made while on", language)

    assert await gated.app.core.services.privacy.unkept.erase_due(utcnow() + LATER) == 1
    assert (await gated.job(made_off)).prompt == ""
    assert (await gated.job(made_on)).prompt == "made while on"
    assert await files_of(gated, made_on)
    async with gated.app.db.read() as session:
        records = (await session.scalars(select(ConsentRecord).order_by(ConsentRecord.id))).all()
    assert [(r.kind, r.granted, r.source) for r in records] == [
        ("terms", True, "user"),
        ("keep_history", False, "user"),
        ("keep_history", True, "user"),
    ]
    usage = await say(gated, "/privacy keep maybe", language)
    assert usage.error
    assert usage.text == t("error.privacy_usage")


@EITHER_STORE
async def test_a_shared_upload_an_upscale_still_to_draw_and_a_legal_hold_are_respected(
    gated: Harness,
) -> None:
    for user in ("alice", "bob", "carol"):
        await accepted(gated, user)
    for user in ("alice", "carol"):
        await gated.say("/privacy keep off", user)
    same_picture = (120, 120, 0)
    alices = await drawn(gated, "alice's shared sketch", "en", color=same_picture)
    bobs = await drawn(gated, "bob's shared sketch", "en", user="bob", color=same_picture)
    carols = await drawn(gated, "carol's held sketch", "en", user="carol")
    [shared_upload] = (await gated.job(bobs)).references
    privacy = gated.app.core.services.privacy
    await privacy.consents.hold(await account_id(gated, "carol"), "audit 7", actor="cli:operator")
    waiting = await queued_job_reading(gated, alices)

    assert await privacy.unkept.erase_due(utcnow() + LATER) == 0  # alice's image is still to be read
    assert (await gated.job(alices)).prompt == "alice's shared sketch"
    async with gated.app.db.transaction() as session:
        await session.delete(await session.get(Job, waiting))

    assert await privacy.unkept.erase_due(utcnow() + LATER) == 1
    assert (await gated.job(alices)).erased_at is not None
    assert await gated.app.core.services.storage.exists(shared_upload)  # bob's job names it too
    assert (await gated.job(bobs)).prompt == "bob's shared sketch"
    assert (await gated.job(carols)).prompt == "carol's held sketch"  # under a legal hold
    assert await files_of(gated, carols)


async def queued_job_reading(harness: Harness, job_id: int) -> int:
    """A queued job (no worker claims it: it is in no account's queue) that reads the job's image,
    as an upscale does until it is drawn."""
    copied = ("account_id", "identity", "chat", "language", "prompt", "provider_prompt", "style", "ratio")
    copied += ("tier", "width", "height", "model", "quality", "n", "cost")
    async with harness.app.db.transaction() as session:
        source = await session.get(Job, job_id)
        assert source is not None
        job = Job(**{column: getattr(source, column) for column in copied}, status=JobStatus.QUEUED)
        session.add(job)
        await session.flush()
        session.add(JobReference(path=source.outputs[0], job_id=job.id))
        return job.id


async def test_the_hourly_pass_runs_in_one_process_and_erases_what_is_due(gated: Harness) -> None:
    await accepted(gated)
    await gated.say("/privacy keep off")
    job = await drawn(gated, "a quiet harbour", "en")
    async with gated.app.db.transaction() as session:  # the window passed: the job finished long ago
        await session.execute(update(Job).where(Job.id == job).values(finished_at=utcnow() - LATER))
    app = gated.app
    unkept = app.core.services.privacy.unkept

    running = asyncio.create_task(unkept.run())
    try:
        await until(lambda: job_erased(gated, job))
        # erased less than an hour ago: another process does not take a turn
        assert not await leases.take_turn(app.db, "unkept", "another-process", timedelta(hours=1))
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert (await gated.job(job)).prompt == ""


async def job_erased(harness: Harness, job_id: int) -> bool:
    return (await harness.job(job_id)).erased_at is not None


async def test_an_unlinked_identity_keeps_its_choice_not_to_keep_history(gated: Harness) -> None:
    await accepted(gated)
    await gated.say("/privacy keep off")
    [reply] = await gated.say("/link")
    code = reply.text.split("/link ")[1].split()[0].rstrip(".")
    elsewhere = UserRef("other", "a-on-discord")
    chat = ChatRef("other", "dm", "chan-a")
    await gated.app.core.dispatch(Incoming(elsewhere, chat, f"/link {code}"))
    await gated.app.core.dispatch(Incoming(elsewhere, chat, "/unlink"))

    [shown] = await gated.app.core.dispatch(Incoming(elsewhere, chat, "/privacy"))
    assert shown.text.endswith(translate("en", "privacy.keep.state_off", hours=HOURS))
    fresh = await gated.app.core.services.accounts.find("other", "a-on-discord")
    assert fresh is not None
    async with gated.app.db.read() as session:
        records = await session.scalars(select(ConsentRecord).where(ConsentRecord.account_id == fresh.id))
        assert ("keep_history", False, "carried") in [(r.kind, r.granted, r.source) for r in records]
