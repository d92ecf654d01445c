"""Everything the bot posts to Telegram: answers, the live status message of each job, results.

A job gets one status message: the acknowledgement (queue position and a Cancel button), edited as
the job starts and as previews arrive (editMessageMedia), at most once every `edit_interval_s` per
chat, the newest state winning. While it draws, the chat shows "sending a photo". The result is a
new message (so it notifies), and the status message is removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

from telegram import Bot, InputMediaPhoto, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from core.errors import ChatUnreachable, RetryLater
from core.messages import ChatRef, Reply, ReplyType, Stage
from platforms.telegram import render
from platforms.telegram.callbacks import CallbackSigner
from platforms.telegram.media import prepare_photo

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
CHAT_ACTION_EVERY_S = 4.5  # Telegram shows a chat action for 5 s
CHAT_ACTION_FOR_S = 15 * 60  # a job whose end this process never sees stops showing it eventually
GONE = ("chat not found", "user is deactivated", "bot was kicked", "have no rights to send")
JobKey = tuple[int, int]  # (chat id, job id)


class EditThrottle:
    """At most one edit per chat per interval; an edit that comes too soon waits, replaced by newer ones."""

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._free_at: dict[int, float] = {}
        self._waiting: dict[int, dict[int, Callable[[], Awaitable[None]]]] = {}
        self._timers: dict[int, asyncio.Task[None]] = {}

    async def submit(self, chat_id: int, job_id: int, edit: Callable[[], Awaitable[None]]) -> None:
        now = asyncio.get_running_loop().time()
        if chat_id not in self._timers and now >= self._free_at.get(chat_id, 0.0):
            self._free_at[chat_id] = now + self._interval
            await edit()
            return
        self._waiting.setdefault(chat_id, {})[job_id] = edit
        if chat_id not in self._timers:
            self._timers[chat_id] = asyncio.create_task(self._flush(chat_id))

    def forget(self, chat_id: int, job_id: int) -> None:
        """The job is over: an edit still waiting for it would only bring back an old state."""
        self._waiting.get(chat_id, {}).pop(job_id, None)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()

    async def _flush(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting.get(chat_id):
                await asyncio.sleep(max(0.0, self._free_at.get(chat_id, 0.0) - loop.time()))
                waiting = self._waiting.get(chat_id, {})
                if not waiting:
                    break
                edit = waiting.pop(next(iter(waiting)))
                self._free_at[chat_id] = loop.time() + self._interval
                try:
                    await edit()
                except Exception:  # progress is best effort: a lost preview is not worth a crash
                    log.warning("telegram: a delayed progress edit failed", exc_info=True)
        finally:
            self._timers.pop(chat_id, None)


class TelegramSender:
    def __init__(self, bot: Bot, signer: CallbackSigner, *, edit_interval_s: float = EDIT_INTERVAL_S) -> None:
        self._bot = bot
        self._signer = signer
        self._throttle = EditThrottle(edit_interval_s)
        self._status: dict[JobKey, int] = {}  # the live status message of each running job
        self._typing: dict[JobKey, asyncio.Task[None]] = {}
        self._buttons_shown: set[JobKey] = set()  # results whose actions went on the photo itself

    async def send(self, chat: ChatRef, reply: Reply, *, reply_to: int | None = None) -> None:
        """Delivers one reply; raises ChatUnreachable when Telegram refuses this chat for good."""
        try:
            await self._send(render.chat_id(chat), reply, reply_to)
        except Forbidden as error:
            raise ChatUnreachable(str(error)) from error
        except RetryAfter as error:  # still flooded after the rate limiter's own retries
            raise RetryLater(_seconds(error.retry_after)) from error
        except BadRequest as error:
            if any(reason in error.message.lower() for reason in GONE):
                raise ChatUnreachable(error.message) from error
            raise

    def close(self) -> None:
        self._throttle.close()
        for task in self._typing.values():
            task.cancel()

    async def _send(self, chat_id: int, reply: Reply, reply_to: int | None) -> None:
        key = (chat_id, reply.job) if reply.job is not None else None
        if reply.type == ReplyType.PROGRESS and key is not None:
            await self._progress(key, reply, reply_to)
        elif reply.type == ReplyType.IMAGE:
            await self._image(chat_id, reply, reply_to)
        elif reply.type == ReplyType.FILE and reply.path is not None:
            await self._document(chat_id, reply.path, render.caption(reply.text), reply_to)
        elif reply.type == ReplyType.ACTIONS and key is not None and key in self._buttons_shown:
            self._buttons_shown.discard(key)  # already under the photo
        else:
            await self.text(chat_id, reply, reply_to)
        if key is not None and (reply.final or reply.type == ReplyType.IMAGE):
            await self._finish(key)

    async def text(self, chat_id: int, reply: Reply, reply_to: int | None = None) -> Message:
        parts = render.split_text(reply.text)
        message: Message | None = None
        for number, part in enumerate(parts, start=1):
            message = await self._bot.send_message(
                chat_id,
                part,
                reply_markup=render.keyboard(reply, self._signer) if number == len(parts) else None,
                reply_parameters=_reply_to(reply_to),
            )
        assert message is not None
        return message

    async def _progress(self, key: JobKey, reply: Reply, reply_to: int | None) -> None:
        chat_id, job_id = key
        if reply.stage == Stage.STARTED:
            self._show_drawing(key)
        message_id = self._status.get(key)
        if message_id is None:
            self._status[key] = await self._new_status(chat_id, reply, reply_to)
            return
        await self._throttle.submit(chat_id, job_id, lambda: self._edit_status(key, message_id, reply))

    async def _new_status(self, chat_id: int, reply: Reply, reply_to: int | None) -> int:
        markup = render.keyboard(reply, self._signer)
        if reply.path is not None:
            message = await self._bot.send_photo(
                chat_id,
                await asyncio.to_thread(reply.path.read_bytes),
                caption=render.caption(reply.text),
                reply_markup=markup,
                reply_parameters=_reply_to(reply_to),
            )
        else:
            message = await self.text(chat_id, reply, reply_to)
        return message.message_id

    async def _edit_status(self, key: JobKey, message_id: int, reply: Reply) -> None:
        if self._status.get(key) != message_id:
            return  # the job finished while this edit waited
        chat_id, _ = key
        markup = render.keyboard(reply, self._signer)
        try:
            if reply.path is not None:
                media = InputMediaPhoto(
                    await asyncio.to_thread(reply.path.read_bytes), caption=render.caption(reply.text)
                )
                await self._bot.edit_message_media(media, chat_id, message_id, reply_markup=markup)
            else:
                await self._bot.edit_message_text(
                    render.split_text(reply.text)[0], chat_id, message_id, reply_markup=markup
                )
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                log.info("telegram: status message could not be edited (%s)", error.message)

    async def _image(self, chat_id: int, reply: Reply, reply_to: int | None) -> None:
        assert reply.path is not None
        upload = await asyncio.to_thread(prepare_photo, reply.path)
        photo = await self._bot.send_photo(
            chat_id,
            upload.photo,
            caption=render.caption(reply.text),
            reply_markup=render.keyboard(reply, self._signer),
            reply_parameters=_reply_to(reply_to),
            filename=upload.filename,
        )
        if upload.original is not None:  # Telegram only took a preview: the full file goes along
            await self._bot.send_document(
                chat_id,
                upload.original,
                filename=reply.path.name,
                reply_parameters=_reply_to(photo.message_id),
            )
        if reply.buttons and reply.job is not None:
            self._buttons_shown.add((chat_id, reply.job))

    async def _document(self, chat_id: int, path: Path, caption: str, reply_to: int | None) -> None:
        await self._bot.send_document(
            chat_id,
            await asyncio.to_thread(path.read_bytes),
            filename=path.name,
            caption=caption or None,
            reply_parameters=_reply_to(reply_to),
        )

    async def _finish(self, key: JobKey) -> None:
        """The job is over: stop "sending a photo", drop waiting edits, remove its status message."""
        chat_id, job_id = key
        if (typing := self._typing.pop(key, None)) is not None:
            typing.cancel()
        self._throttle.forget(chat_id, job_id)
        message_id = self._status.pop(key, None)
        if message_id is not None:
            with suppress(TelegramError):  # too old to delete, or already gone: it only looks untidy
                await self._bot.delete_message(chat_id, message_id)

    def _show_drawing(self, key: JobKey) -> None:
        if key not in self._typing:
            self._typing[key] = asyncio.create_task(self._keep_showing_drawing(key[0]))

    async def _keep_showing_drawing(self, chat_id: int) -> None:
        for _ in range(int(CHAT_ACTION_FOR_S / CHAT_ACTION_EVERY_S)):
            with suppress(TelegramError):
                await self._bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
            await asyncio.sleep(CHAT_ACTION_EVERY_S)


def _reply_to(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
