"""Everything the bot posts to Telegram: answers, each chat's status message, results.

Replies to a chat leave one after the other, in the order they were handed over, each chat in a lane
of its own; `post` returns at once, so a burst of requests is accepted and written at the database's
pace while its answers leave at Telegram's (`platforms/telegram/pacing.py`). The jobs of a chat share
one status message (`platforms/telegram/board.py`): the acknowledgements that wait for the chat's
turn go out as one message, which later states edit, at most once every `edit_interval_s`, the
newest state winning. While a job draws, the chat shows "sending a photo". A result is a new message
(so it notifies) with its buttons; the status message goes once the chat has no job left. Where
other processes speak for the same token, the boards are shared through the database instead
(`platforms/telegram/shared_status.py`), so that a chat still has one status message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from telegram import Bot, Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from core.errors import ChatUnreachable, RetryLater
from core.messages import ChatRef, MediaReader, Reply, ReplyType, Stage
from core.status_boards import SharedBoards
from platforms.telegram import render, status_calls
from platforms.telegram.board import StatusBoard
from platforms.telegram.callbacks import CallbackSigner
from platforms.telegram.media import prepare_photo
from platforms.telegram.pacing import TokenPace, retry_seconds
from platforms.telegram.shared_status import SharedStatus

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
CHAT_ACTION_EVERY_S = 4.5  # Telegram shows a chat action for 5 s
CHAT_ACTION_FOR_S = 15 * 60  # a job whose end this process never sees stops showing it eventually
GONE = ("chat not found", "user is deactivated", "bot was kicked", "have no rights to send")
# 403 for a private chat the user never opened: the bot may write there once they do, so what waits
# for it is kept (a notice from a group purchase) until they write (`Notifier.heard_from`).
NOT_OPENED = "can't initiate conversation"
FINISHED_REMEMBERED = 10_000  # jobs whose late progress is ignored
JobKey = tuple[int, int]  # (chat id, job id)


@dataclass(slots=True)
class _Outgoing:
    reply: Reply
    reply_to: int | None
    done: asyncio.Future[None]
    awaited: bool  # someone waits for the outcome; otherwise a failure is logged here


@dataclass(slots=True)
class _Lane:
    key: str  # the chat as the core names it
    waiting: deque[_Outgoing] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None

    def take_board_states(self) -> list[_Outgoing]:
        """The job states at the front of the lane, which go out as one message or edit."""
        taken = []
        while self.waiting and _on_board(self.waiting[0].reply):
            taken.append(self.waiting.popleft())
        return taken


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        signer: CallbackSigner,
        read: MediaReader,
        pace: TokenPace,
        *,
        edit_interval_s: float = EDIT_INTERVAL_S,
        shared_boards: SharedBoards | None = None,
    ) -> None:
        """`shared_boards`: where the status messages are kept when other processes speak for the same
        token (None: this process alone, which keeps them in memory)."""
        self._bot = bot
        self._signer = signer
        self._read = read
        self._pace = pace
        self._edit_interval = edit_interval_s
        self._lanes: dict[int, _Lane] = {}
        self._boards: dict[int, StatusBoard] = {}
        self._edits: dict[int, asyncio.Task[None]] = {}  # a board edit waiting for its chat's interval
        self._edit_free_at: dict[int, float] = {}
        self._typing: dict[JobKey, asyncio.Task[None]] = {}
        self._buttons_shown: set[JobKey] = set()  # results whose actions went on the photo itself
        self._finished: OrderedDict[JobKey, None] = OrderedDict()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shared = (
            SharedStatus(shared_boards, bot, signer, read, pace, edit_interval_s)
            if shared_boards is not None
            else None
        )

    def post(self, chat: ChatRef, reply: Reply, *, reply_to: int | None = None) -> None:
        """Hands `reply` to its chat's lane and returns at once; a failure is logged."""
        self._enqueue(chat, reply, reply_to, awaited=False)

    async def send(self, chat: ChatRef, reply: Reply, *, reply_to: int | None = None) -> None:
        """Delivers one reply in its chat's order; raises ChatUnreachable when Telegram refuses this
        chat for good, RetryLater when it still floods after the pace's own retries."""
        await self._enqueue(chat, reply, reply_to, awaited=True)

    async def idle(self) -> None:
        """Waits until every handed-over reply and status edit has been sent."""
        while True:
            while not self._idle.is_set():
                await self._idle.wait()
            if self._shared is None or not self._shared.busy:
                return
            await self._shared.idle()

    async def close(self) -> None:
        """Stops every lane, edit and chat action, and waits until they have let go of what they held."""
        tasks = [*self._edits.values(), *self._typing.values()]
        tasks += [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._shared is not None:
            await self._shared.close()

    def _enqueue(
        self, chat: ChatRef, reply: Reply, reply_to: int | None, *, awaited: bool
    ) -> asyncio.Future[None]:
        chat_id = render.chat_id(chat)
        outgoing = _Outgoing(reply, reply_to, asyncio.get_running_loop().create_future(), awaited)
        lane = self._lanes.setdefault(chat_id, _Lane(chat.serialize()))
        lane.waiting.append(outgoing)
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._drain(chat_id, lane))
        self._idle.clear()
        return outgoing.done

    async def _drain(self, chat_id: int, lane: _Lane) -> None:
        try:
            while lane.waiting:
                if not _on_board(lane.waiting[0].reply):
                    outgoing = lane.waiting.popleft()
                    sending = self._deliver(chat_id, lane.key, outgoing.reply, outgoing.reply_to)
                    await self._settle([outgoing], sending)
                    continue
                if self._shared is not None:
                    states = lane.take_board_states()
                    await self._settle(states, self._show_shared(chat_id, lane.key, states))
                    continue
                board = self._boards.setdefault(chat_id, StatusBoard())
                if board.message_id is not None:
                    states = lane.take_board_states()
                    await self._settle(states, self._show(chat_id, states))
                    continue
                try:
                    await self._pace.turn(chat_id)  # what piles up meanwhile goes out as one message
                except Exception as error:  # the shared budget is out of reach for a moment
                    self._failed(lane.take_board_states(), error)
                    continue
                states = lane.take_board_states()
                await self._settle(states, self._show(chat_id, states))
        except asyncio.CancelledError:
            for outgoing in lane.waiting:
                outgoing.done.cancel()
            raise
        finally:
            del self._lanes[chat_id]
            self._check_idle()

    async def _settle(self, batch: list[_Outgoing], sending: Awaitable[None]) -> None:
        try:
            await sending
        except asyncio.CancelledError:
            for outgoing in batch:
                outgoing.done.cancel()
            raise
        except Exception as error:
            self._failed(batch, error)
            return
        for outgoing in batch:
            outgoing.done.set_result(None)

    @staticmethod
    def _failed(batch: list[_Outgoing], error: Exception) -> None:
        """Tells whoever waits; what nobody waits for is logged."""
        failure = _as_core_error(error)
        for outgoing in batch:
            if outgoing.awaited:
                outgoing.done.set_exception(failure)
        if not all(outgoing.awaited for outgoing in batch):
            log.warning("telegram: an answer could not be sent (%s)", type(failure).__name__)

    def _check_idle(self) -> None:
        if not self._lanes and not self._edits:
            self._idle.set()

    # --- the status board -------------------------------------------------------------------------

    async def _show(self, chat_id: int, states: list[_Outgoing]) -> None:
        board = self._boards[chat_id]
        for reply in self._news(chat_id, states):
            board.update(reply)
        if not board:  # only late news: nothing to show
            if board.message_id is None:
                del self._boards[chat_id]
            return
        if board.message_id is None:
            await self._post_board(chat_id, board, _asked_by(states))
        else:
            self._edit_soon(chat_id)

    async def _show_shared(self, chat_id: int, key: str, states: list[_Outgoing]) -> None:
        assert self._shared is not None
        if replies := self._news(chat_id, states):
            await self._shared.show(chat_id, key, replies, _asked_by(states))

    def _news(self, chat_id: int, states: list[_Outgoing]) -> list[Reply]:
        """The states of jobs not over yet (late news of a finished one is dropped); a job that starts
        drawing shows "sending a photo" meanwhile."""
        news = []
        for outgoing in states:
            reply = outgoing.reply
            assert reply.job is not None
            if (chat_id, reply.job) in self._finished:
                continue
            news.append(reply)
            if reply.stage == Stage.STARTED:
                self._show_drawing((chat_id, reply.job))
        return news

    async def _post_board(self, chat_id: int, board: StatusBoard, reply_to: int | None) -> None:
        message = await status_calls.post(self._bot, self._signer, self._read, chat_id, board, reply_to)
        board.message_id = message.message_id
        board.shows_photo = board.preview is not None
        self._edit_free_at[chat_id] = asyncio.get_running_loop().time() + self._edit_interval

    def _edit_soon(self, chat_id: int) -> None:
        """One edit per chat per interval, showing the board as it is when the edit goes."""
        if chat_id not in self._edits:
            self._idle.clear()
            self._edits[chat_id] = asyncio.create_task(self._edit_when_free(chat_id))

    async def _edit_when_free(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        shown = -1
        try:
            while (board := self._boards.get(chat_id)) is not None and board.version != shown:
                await asyncio.sleep(max(0.0, self._edit_free_at.get(chat_id, 0.0) - loop.time()))
                if board.message_id is None or not board or self._boards.get(chat_id) is not board:
                    return
                self._edit_free_at[chat_id] = loop.time() + self._edit_interval
                shown = board.version
                board.shows_photo = await status_calls.edit(
                    self._bot, self._signer, self._read, chat_id, board, board.message_id
                )
        except TelegramError as error:  # progress is best effort: a lost state is not worth a crash
            log.info("telegram: status message could not be edited (%s)", type(error).__name__)
        finally:
            self._edits.pop(chat_id, None)
            self._check_idle()

    async def _finish(self, chat_id: int, chat_key: str, job: int) -> None:
        """The job is over: stop "sending a photo", and take it off its chat's status message."""
        key = (chat_id, job)
        known = key in self._finished  # a result's actions follow its image: the job is off already
        self._finished[key] = None
        if len(self._finished) > FINISHED_REMEMBERED:
            self._finished.popitem(last=False)
        if (typing := self._typing.pop(key, None)) is not None:
            typing.cancel()
        if self._shared is not None:
            if not known:
                await self._shared.finish(chat_id, chat_key, job)
            return
        board = self._boards.get(chat_id)
        if board is None or not board.has(job):
            return
        repost = board.forget(job)
        if board and not repost:
            self._edit_soon(chat_id)
            return
        message_id, board.message_id, board.shows_photo = board.message_id, None, False
        if not board:
            del self._boards[chat_id]
            self._edit_free_at.pop(chat_id, None)
        if message_id is not None:
            with suppress(TelegramError):  # too old to delete, or already gone: it only looks untidy
                await self._bot.delete_message(chat_id, message_id)
        if board:  # it showed the finished job's preview: the others get a new status message
            await self._pace.turn(chat_id)
            await self._post_board(chat_id, board, None)

    # --- everything else --------------------------------------------------------------------------

    async def _deliver(self, chat_id: int, chat_key: str, reply: Reply, reply_to: int | None) -> None:
        key = (chat_id, reply.job) if reply.job is not None else None
        if reply.type == ReplyType.IMAGE:
            await self._image(chat_id, reply, reply_to)
        elif reply.type == ReplyType.FILE and reply.media is not None:
            await self._document(chat_id, reply.media, render.caption(reply.text), reply_to)
        elif reply.type == ReplyType.ACTIONS and key is not None and key in self._buttons_shown:
            self._buttons_shown.discard(key)  # already under the photo
        else:
            await self.text(chat_id, reply, reply_to)
        if reply.job is not None and (reply.final or reply.type == ReplyType.IMAGE):
            await self._finish(chat_id, chat_key, reply.job)

    async def text(self, chat_id: int, reply: Reply, reply_to: int | None = None) -> Message:
        parts = render.split_text(reply.text)
        message: Message | None = None
        for number, part in enumerate(parts, start=1):
            message = await self._bot.send_message(
                chat_id,
                part,
                reply_markup=render.keyboard(reply, self._signer) if number == len(parts) else None,
                reply_parameters=render.reply_to(reply_to),
            )
        assert message is not None
        return message

    async def _image(self, chat_id: int, reply: Reply, reply_to: int | None) -> None:
        assert reply.media is not None
        upload = await asyncio.to_thread(prepare_photo, await self._read(reply.media), reply.media)
        photo = await self._bot.send_photo(
            chat_id,
            upload.photo,
            caption=render.caption(reply.text),
            reply_markup=render.keyboard(reply, self._signer),
            reply_parameters=render.reply_to(reply_to),
            filename=upload.filename,
        )
        if upload.original is not None:  # Telegram only took a preview: the full file goes along
            await self._bot.send_document(
                chat_id,
                upload.original,
                filename=PurePosixPath(reply.media).name,
                reply_parameters=render.reply_to(photo.message_id),
            )
        if reply.buttons and reply.job is not None:
            self._buttons_shown.add((chat_id, reply.job))

    async def _document(self, chat_id: int, key: str, caption: str, reply_to: int | None) -> None:
        await self._bot.send_document(
            chat_id,
            await self._read(key),
            filename=PurePosixPath(key).name,
            caption=caption or None,
            reply_parameters=render.reply_to(reply_to),
        )

    def _show_drawing(self, key: JobKey) -> None:
        if key not in self._typing:
            self._typing[key] = asyncio.create_task(self._keep_showing_drawing(key[0]))

    async def _keep_showing_drawing(self, chat_id: int) -> None:
        for _ in range(int(CHAT_ACTION_FOR_S / CHAT_ACTION_EVERY_S)):
            with suppress(TelegramError):
                await self._bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
            await asyncio.sleep(CHAT_ACTION_EVERY_S)


def _on_board(reply: Reply) -> bool:
    return reply.type == ReplyType.PROGRESS and reply.job is not None


def _as_core_error(error: Exception) -> Exception:
    """Telegram's refusals as the core knows them."""
    if isinstance(error, Forbidden):
        return ChatUnreachable(str(error), keep_pending=NOT_OPENED in error.message.lower())
    if isinstance(error, RetryAfter):  # still flooded after the pace's own retries
        return RetryLater(retry_seconds(error))
    if isinstance(error, BadRequest) and any(reason in error.message.lower() for reason in GONE):
        return ChatUnreachable(error.message)
    return error


def _asked_by(states: list[_Outgoing]) -> int | None:
    """The message a new status message answers: the one that asked, whichever state came first."""
    return next((outgoing.reply_to for outgoing in states if outgoing.reply_to is not None), None)
