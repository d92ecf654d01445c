"""Chats' status messages shared with the other processes on the token (`core.status_boards`).

Where several processes speak for one bot token, the one that queued a job, the one that draws it
and the one that sends its result are often different. Each writes its jobs' states into the chat's
shared board; the board's editor (one process at a time) posts the message, edits it at most once
every `edit_interval_s` showing the newest state, and deletes it once no job is left, until it shows
the newest version. Acknowledgements that pile up while the editor waits for the chat's turn go out
as one message, as in one process (`platforms/telegram/sending.py`).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from core.db.types import utcnow
from core.messages import MediaReader, Reply
from core.status_boards import BoardLost, SharedBoard, SharedBoards
from platforms.telegram import status_calls
from platforms.telegram.board import StatusBoard
from platforms.telegram.callbacks import CallbackSigner
from platforms.telegram.pacing import TokenPace

log = logging.getLogger(__name__)

Editing = tuple[SharedBoard, int | None]  # the board to show, the message the first post answers


class SharedStatus:
    def __init__(
        self,
        boards: SharedBoards,
        bot: Bot,
        signer: CallbackSigner,
        read: MediaReader,
        pace: TokenPace,
        edit_interval_s: float,
    ) -> None:
        self._boards = boards
        self._bot = bot
        self._read = read
        self._signer = signer
        self._pace = pace
        self._edit_interval = edit_interval_s
        self._editing: dict[int, asyncio.Task[None]] = {}
        self._again: dict[int, Editing] = {}  # became the editor anew while the last turn was ending

    @property
    def busy(self) -> bool:
        return bool(self._editing)

    async def idle(self) -> None:
        """Waits until this process edits no board."""
        while self._editing:
            await asyncio.wait(list(self._editing.values()))

    async def close(self) -> None:
        tasks = list(self._editing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def show(self, chat_id: int, key: str, replies: list[Reply], reply_to: int | None) -> None:
        """Newer states of jobs of the chat `key` (`chat_id` on Telegram)."""
        board = await self._boards.note(key, replies)
        if board is not None and board.message_id is None and chat_id not in self._editing:
            board = await self._first_post(chat_id, key, reply_to)  # in the chat's order, as in one process
        if board is not None:
            self._edit(chat_id, key, (board, reply_to))

    async def finish(self, chat_id: int, key: str, job: int) -> None:
        """The job is over: off its chat's board."""
        board = await self._boards.forget(key, job)
        if board is not None:
            self._edit(chat_id, key, (board, None))

    def _edit(self, chat_id: int, key: str, editing: Editing) -> None:
        if chat_id in self._editing:
            self._again[chat_id] = editing
        else:
            self._editing[chat_id] = asyncio.create_task(self._turns(chat_id, key, editing))

    async def _turns(self, chat_id: int, key: str, editing: Editing | None) -> None:
        try:
            while editing is not None:
                try:
                    await self._keep_shown(chat_id, key, *editing)
                except BoardLost:
                    log.info("telegram: another process edits this status message now")
                except TelegramError as error:  # progress is best effort; the next change tries again
                    log.info("telegram: status message could not be sent (%s)", type(error).__name__)
                    await self._boards.step_down(key)
                editing = self._again.pop(chat_id, None)
        except Exception:
            log.exception("telegram: a shared status message could not be kept")
            with suppress(Exception):
                await self._boards.step_down(key)
        finally:
            self._again.pop(chat_id, None)
            del self._editing[chat_id]

    async def _keep_shown(
        self, chat_id: int, key: str, shared: SharedBoard | None, reply_to: int | None
    ) -> None:
        """Shows the board until its message shows the newest version (or it is gone)."""
        while shared is not None:
            board = StatusBoard.of(shared)
            message_id = shared.message_id
            if message_id is not None and (not board or (shared.shows_photo and shared.preview_of is None)):
                # No job left, or a photo whose job is over (Telegram cannot turn it into text): the
                # message goes, and the jobs left get a new one.
                shared = await self._boards.shown(key, shared.version, None, shows_photo=False, sent=False)
                with suppress(TelegramError):  # too old to delete, or already gone: it only looks untidy
                    await self._bot.delete_message(chat_id, message_id)
            elif not board:
                shared = await self._boards.shown(key, shared.version, None, shows_photo=False, sent=False)
            elif message_id is None:
                shared = await self._post(chat_id, key, reply_to)
            elif shared.version == shared.shown:
                photo = shared.shows_photo
                shared = await self._boards.shown(
                    key, shared.version, message_id, shows_photo=photo, sent=False
                )
            elif (wait := self._edit_wait(shared)) > 0:
                await asyncio.sleep(wait)
                shared = await self._boards.look(key)  # the newest state when the edit goes
            else:
                shared = await self._edit_message(chat_id, key, shared, board, message_id)

    async def _first_post(self, chat_id: int, key: str, reply_to: int | None) -> SharedBoard | None:
        try:
            return await self._post(chat_id, key, reply_to)
        except BoardLost:
            return None
        except BaseException:
            with suppress(Exception):
                await asyncio.shield(self._boards.step_down(key))
            raise

    async def _post(self, chat_id: int, key: str, reply_to: int | None) -> SharedBoard | None:
        await self._pace.turn(chat_id)
        shared = await self._boards.look(key)  # with what piled up meanwhile
        board = StatusBoard.of(shared)
        if not board:
            return shared
        message = await status_calls.post(self._bot, self._signer, self._read, chat_id, board, reply_to)
        photo = board.preview is not None
        try:
            return await self._boards.shown(
                key, shared.version, message.message_id, shows_photo=photo, sent=True
            )
        except BoardLost:  # taken over meanwhile: the new editor shows the board
            with suppress(TelegramError):
                await self._bot.delete_message(chat_id, message.message_id)
            raise

    async def _edit_message(
        self, chat_id: int, key: str, shared: SharedBoard, board: StatusBoard, message_id: int
    ) -> SharedBoard | None:
        try:
            photo = await status_calls.edit(self._bot, self._signer, self._read, chat_id, board, message_id)
        except BadRequest as error:
            if "not found" not in error.message.lower():
                raise
            # Deleted by the user: the jobs get a new message.
            return await self._boards.shown(key, shared.version, None, shows_photo=False, sent=False)
        return await self._boards.shown(key, shared.version, message_id, shows_photo=photo, sent=True)

    def _edit_wait(self, shared: SharedBoard) -> float:
        if shared.edited_at is None:
            return 0.0
        return self._edit_interval - (utcnow() - shared.edited_at).total_seconds()
