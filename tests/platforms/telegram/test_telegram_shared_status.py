"""Several processes on one token and one database still give a chat ONE status message: the process
that draws a job edits the message another acknowledged it with, and it goes once no job is left."""

from __future__ import annotations

import asyncio
import json
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from telegram.constants import ChatType

from core.messages import Stage, progress
from platforms.telegram.render import chat_ref
from tests.fakes.gated_provider import GatedProvider
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.telegram.conftest import ALICE, TelegramBot, open_telegram_bot

pytestmark = BOTH_DATABASES

STEPS = 12  # states each process shows, at the same time as the other


def shown(api: TelegramBotAPIDouble, message_id: int) -> str:
    """What the message reads now: its text or caption after the last edit."""
    reading = ""
    for call in api.calls:
        if call.result is None or not isinstance(call.result, dict):
            continue
        if call.result.get("message_id") != message_id:
            continue
        if call.method == "editMessageMedia":
            media = call.fields["media"]
            reading = (json.loads(media) if isinstance(media, str) else media).get("caption", "")
        elif call.method in ("sendMessage", "editMessageText"):
            reading = call.fields["text"]
        elif call.method in ("sendPhoto", "editMessageCaption"):
            reading = call.fields.get("caption", "")
    return reading


def shared_bot(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, **options: Any
) -> AbstractAsyncContextManager[TelegramBot]:
    """One process of several: its own app and door; the database, the files and the token shared."""
    return open_telegram_bot(database, tmp_path, api, shared_status=True, **options)


async def test_the_process_that_draws_a_job_edits_the_acknowledgement_another_posted(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    provider = GatedProvider()
    async with shared_bot(database, tmp_path, api, run_workers=False) as first:
        await first.say("/imagine a lighthouse")
        [ack] = api.of("sendMessage", ALICE)
        assert "queued" in ack.fields["text"]
    # The first process is gone: the second knows the message from the database alone.
    async with shared_bot(database, tmp_path, api, run_workers=False, provider=provider) as second:
        worker = asyncio.create_task(second.harness.app.worker.run())
        try:
            await provider.wait_started(1)
            await api.wait_until(
                lambda: "drawing" in shown(api, ack.message_id) or bool(api.of("editMessageMedia"))
            )
            edits = [call for call in api.calls if call.method.startswith("editMessage")]
            assert edits
            assert all(call.fields["message_id"] == ack.message_id for call in edits)
            provider.release("a lighthouse")
            await api.wait_for("sendPhoto", chat_id=ALICE)
            [deleted] = await api.wait_for("deleteMessage", chat_id=ALICE)
            await second.adapter.settled()
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert deleted.fields["message_id"] == ack.message_id, "the status message makes way for the result"
    assert [call.message_id for call in api.of("sendMessage", ALICE)] == [ack.message_id], "no second status"
    assert len(api.of("sendPhoto", ALICE)) == 1, "the result alone: the previews were edits"


async def test_jobs_acknowledged_by_two_processes_share_one_message_that_goes_with_the_last(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    provider = GatedProvider()
    async with (
        shared_bot(database, tmp_path, api, provider=provider) as first,
        shared_bot(database, tmp_path, api, provider=provider) as second,
    ):
        await first.say("/imagine a red boat")
        await second.say("/imagine a blue boat", message_id=101)  # ids are the chat's, whoever takes them
        await provider.wait_started(2)
        [status] = api.of("sendMessage", ALICE)
        await api.wait_until(lambda: shown(api, status.message_id).count("preview") == 2)

        provider.release("a red boat")
        await api.wait_for("sendPhoto", 1, chat_id=ALICE)
        await api.wait_until(lambda: "preview" in shown(api, status.message_id))
        assert api.of("deleteMessage", ALICE) == [], "a job is left: the message stays"

        provider.release("a blue boat")
        await api.wait_for("sendPhoto", 2, chat_id=ALICE)
        [deleted] = await api.wait_for("deleteMessage", chat_id=ALICE)
        await first.adapter.settled()
        await second.adapter.settled()
    assert deleted.fields["message_id"] == status.message_id
    assert [call.message_id for call in api.of("sendMessage", ALICE)] == [status.message_id]
    assert len(api.of("sendPhoto", ALICE)) == 2, "the two results, nothing else"


async def test_two_processes_updating_one_chat_at_once_leave_it_showing_the_newest_states(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with (
        shared_bot(database, tmp_path, api, run_workers=False) as first,
        shared_bot(database, tmp_path, api, run_workers=False) as second,
    ):
        await first.say("/imagine a kite")
        await second.say("/imagine a kettle", message_id=101)
        [status] = api.of("sendMessage", ALICE)  # the jobs are 1 and 2, queued: nothing draws them

        async def steps(bot: TelegramBot, job: int) -> None:
            for step in range(1, STEPS + 1):
                reply = progress(job, Stage.STARTED, f"Job #{job}: step {step}")
                await bot.adapter.send(chat_ref(ALICE, ChatType.PRIVATE), reply)

        await asyncio.gather(steps(first, 1), steps(second, 2))
        await first.adapter.settled()
        await second.adapter.settled()
        assert shown(api, status.message_id) == f"Job #1: step {STEPS}\n\nJob #2: step {STEPS}"
        assert [call.message_id for call in api.of("sendMessage", ALICE)] == [status.message_id]

        await second.say("/cancel 1", message_id=102)
        await first.say("/cancel 2")
        [deleted] = await api.wait_for("deleteMessage", chat_id=ALICE)
        await first.adapter.settled()
        await second.adapter.settled()
    assert deleted.fields["message_id"] == status.message_id
