"""Where a reply goes: the interaction that asked for it while its token is fresh, else the channel.

A job's replies arrive later, through the notifier. While the interaction that started the job is
fresh (Discord honours its token for 15 minutes), progress edits that interaction's answer, at most
once per `progress_interval_s` (the latest update wins), and results follow it up. After that,
after a restart, or when Discord refuses the token, results are posted to the channel by the bot.
Progress with no fresh interaction is dropped: it is worthless late, and the result still comes.
discord.py waits for an answer as long as aiohttp lets it (five minutes): every call here gives up
after `SEND_TIMEOUT_S`, so a request Discord never answers is retried from the outbox instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import discord

from core.errors import ChatUnreachable
from core.messages import ChatRef, MediaReader, Reply, ReplyType
from platforms.discord import files, render
from platforms.discord.render import Message

log = logging.getLogger(__name__)

T = TypeVar("T")
DM = "dm"
GUILD = "guild"
USER = "user"  # a person, reached in the DM channel Discord opens with them: where private notices go
CANNOT_MESSAGE_USER = 50007
FOLLOWUP_WINDOW = timedelta(minutes=14)  # Discord allows 15: the rest is left for an upload
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # a bot's limit where no interaction tells a larger one
READY_WAIT_S = 30.0
SEND_TIMEOUT_S = 120.0  # room for the largest upload on a slow link
TOKEN_REFUSED = 401  # an expired or unknown interaction token
GONE = 404
UNREACHABLE_CODES = {
    10003,  # unknown channel
    50001,  # missing access
    CANNOT_MESSAGE_USER,
    50013,  # missing permissions
}


@dataclass(eq=False)
class JobThread:
    """The interaction that started a job, and the state of its progress message."""

    interaction: discord.Interaction
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # set once its first answer is done
    usable: bool = True  # False once Discord refused its token
    closed: bool = False  # the progress message is final: no more edits
    last_edit: float = -math.inf
    pending: Reply | None = None
    flusher: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def fresh(self) -> bool:
        return self.usable and discord.utils.utcnow() < self.interaction.created_at + FOLLOWUP_WINDOW


class Delivery:
    def __init__(self, client: discord.Client, read: MediaReader, *, progress_interval_s: float) -> None:
        self._client = client
        self._read = read
        self._interval = progress_interval_s
        self._threads: dict[int, JobThread] = {}
        self._buttons_shown: set[int] = set()  # jobs whose image already carries its buttons

    def open(self, job_id: int, interaction: discord.Interaction) -> JobThread:
        """Remembers the interaction that started `job_id`; forgets those too old to be used."""
        for stale in [job for job, thread in self._threads.items() if not thread.fresh]:
            self._threads.pop(stale)
        thread = self._threads[job_id] = JobThread(interaction)
        return thread

    def close(self) -> None:
        for thread in self._threads.values():
            if thread.flusher is not None:
                thread.flusher.cancel()
        self._threads.clear()

    async def deliver(self, chat: ChatRef, reply: Reply) -> None:
        """One reply of a job: progress edits, everything else is a new message."""
        assert reply.job is not None
        thread = await self._fresh(reply.job)
        if reply.type == ReplyType.PROGRESS:
            if thread is not None:
                await self._progress(thread, reply)
            return
        if reply.type == ReplyType.ACTIONS and reply.job in self._buttons_shown:
            self._buttons_shown.discard(reply.job)
        else:
            message = render.message(reply)
            if thread is not None:
                await self._end_progress(thread)
            if thread is None or not await self._follow_up(thread, message):
                await self.post(chat, message)
            if reply.type == ReplyType.IMAGE and reply.buttons:
                self._buttons_shown.add(reply.job)
        if reply.final:
            self._threads.pop(reply.job, None)

    async def finish(self, job_id: int, *, shown: bool = False) -> None:
        """The job ended in an answer to its owner (a cancel): its progress message is final.

        `shown`: that answer replaced the progress message already.
        """
        thread = self._threads.pop(job_id, None)
        if thread is None:
            return
        if shown:
            thread.closed = True
        if thread.ready.is_set():
            await self._end_progress(thread)

    async def post(self, chat: ChatRef, message: Message) -> None:
        """A message from the bot to the channel (or DM channel) itself; to a user (`USER`), in the
        DM channel Discord opens for them (`POST /users/@me/channels`, remembered by discord.py)."""
        kwargs: dict[str, Any] = {"content": message.content, "view": message.view}
        if (upload := await _upload(message, DEFAULT_UPLOAD_LIMIT, self._read)) is not None:
            kwargs["file"] = upload
        try:
            channel = await self._channel(chat)
            await _bounded(channel.send(**kwargs))
        except (discord.Forbidden, discord.NotFound) as exc:
            if exc.code in UNREACHABLE_CODES:
                # A user who takes no DMs from the server's members (50007) may still write to the
                # bot: what waits for them is kept until they do.
                keep = chat.kind == USER and exc.code == CANNOT_MESSAGE_USER
                raise ChatUnreachable(
                    f"Discord refuses the channel (code {exc.code})", keep_pending=keep
                ) from exc
            raise

    async def _channel(self, chat: ChatRef) -> discord.abc.Messageable:
        if chat.kind == USER:
            return await _bounded(self._client.create_dm(discord.Object(int(chat.chat_id))))
        kind = discord.ChannelType.private if chat.kind == DM else None
        return self._client.get_partial_messageable(int(chat.chat_id), type=kind)

    async def _fresh(self, job_id: int) -> JobThread | None:
        thread = self._threads.get(job_id)
        if thread is None:
            return None
        try:
            await asyncio.wait_for(thread.ready.wait(), READY_WAIT_S)
        except TimeoutError:
            thread.usable = False
        return thread if thread.fresh else None

    async def _progress(self, thread: JobThread, reply: Reply) -> None:
        thread.pending = reply
        if thread.closed or (thread.flusher is not None and not thread.flusher.done()):
            return  # the scheduled edit will show the latest update
        wait = thread.last_edit + self._interval - time.monotonic()
        if wait <= 0:
            await self._flush(thread)
        else:
            thread.flusher = asyncio.create_task(self._flush_after(thread, wait))

    async def _flush_after(self, thread: JobThread, wait: float) -> None:
        await asyncio.sleep(wait)
        try:
            await self._flush(thread)
        except Exception:
            log.warning("discord: a progress update failed", exc_info=True)

    async def _flush(self, thread: JobThread) -> None:
        async with thread.lock:
            reply, thread.pending = thread.pending, None
            if reply is None or thread.closed or not thread.fresh:
                return
            try:
                await edit_original(thread.interaction, render.message(reply), self._read)
            except discord.HTTPException as exc:
                log.warning("discord: a progress update was refused (HTTP %s)", exc.status)
                thread.closed = exc.status in (TOKEN_REFUSED, GONE)
                thread.usable = exc.status != TOKEN_REFUSED
            except TimeoutError:
                log.warning("discord: a progress update got no answer in time")
            thread.last_edit = time.monotonic()

    async def _end_progress(self, thread: JobThread) -> None:
        """Takes the Cancel button off the progress message, once."""
        async with thread.lock:
            thread.pending = None
            if thread.flusher is not None:
                thread.flusher.cancel()
            if thread.closed or not thread.fresh:
                thread.closed = True
                return
            thread.closed = True
            try:
                await _bounded(thread.interaction.edit_original_response(view=None))
            except discord.HTTPException as exc:
                log.info("discord: a finished progress message was not updated (HTTP %s)", exc.status)
            except TimeoutError:
                log.info("discord: a finished progress message got no answer in time")

    async def _follow_up(self, thread: JobThread, message: Message) -> bool:
        """False when Discord no longer takes the interaction's token: post to the channel instead."""
        try:
            await send_followup(thread.interaction, message, self._read)
        except discord.HTTPException as exc:
            if exc.status not in (TOKEN_REFUSED, GONE):
                raise
            thread.usable = False
            log.info("discord: an interaction token was refused (HTTP %s); posting instead", exc.status)
            return False
        return True


async def _bounded(call: Awaitable[T]) -> T:
    async with asyncio.timeout(SEND_TIMEOUT_S):
        return await call


async def _upload(message: Message, limit: int, read: MediaReader) -> discord.File | None:
    if message.attachment is None:
        return None
    return await asyncio.to_thread(files.upload, await read(message.attachment), message.attachment, limit)


async def edit_original(
    interaction: discord.Interaction, message: Message, read: MediaReader, *, keep_attachments: bool = True
) -> None:
    """Replaces the interaction's answer; an attachment replaces the earlier ones, which are otherwise
    kept unless `keep_attachments` is False."""
    upload = await _upload(message, interaction.filesize_limit, read)
    kept: Any = discord.utils.MISSING if keep_attachments else []
    await _bounded(
        interaction.edit_original_response(
            content=message.content, view=message.view, attachments=[upload] if upload is not None else kept
        )
    )


async def send_followup(interaction: discord.Interaction, message: Message, read: MediaReader) -> None:
    kwargs: dict[str, Any] = {"content": message.content, "ephemeral": message.ephemeral, "wait": True}
    upload = await _upload(message, interaction.filesize_limit, read)
    if upload is not None:
        kwargs["file"] = upload
    if message.view is not None:
        kwargs["view"] = message.view
    await _bounded(interaction.followup.send(**kwargs))
