"""Each chat's status message, shared by every process that speaks for one bot token.

A door that lists a chat's active jobs in one status message (Telegram's) keeps it here when several
processes may handle the chat: the update that queued a job arrives in one, the job is drawn in
another, its result is sent by a third. Every process writes the newest state of its jobs into the
chat's board (`note`, `forget`); one process at a time, the board's *editor*, shows it: it posts the
message, edits it, or deletes it once no job is left, and goes on until the message shows the newest
version (`shown`). Since only the editor talks to the platform about the message, two processes
never post two status messages for a chat, and an older state never lands after a newer one. A
process that sees no editor becomes it; an editor that died leaves its turn to lapse (`lease_s`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.db.models import StatusBoard
from core.db.repositories import status_boards as repo
from core.db.session import Database
from core.db.types import utcnow
from core.instance import process_name
from core.messages import Reply, Stage

LEASE_S = 60.0  # an editor that renews nothing for this long is taken over


@dataclass(frozen=True, slots=True)
class SharedBoard:
    """A board as its editor sees it."""

    message_id: int | None
    shows_photo: bool
    version: int
    shown: int  # the version the message shows
    jobs: dict[int, Reply]  # job -> its newest state, in arrival order
    preview_of: int | None
    edited_at: datetime | None


class BoardLost(Exception):
    """Another process is the board's editor now (this one's turn lapsed)."""


@dataclass(slots=True)
class SharedBoards:
    db: Database
    lease_s: float = LEASE_S
    owner: str = field(default_factory=lambda: process_name("status"))

    async def note(self, chat: str, replies: Sequence[Reply]) -> SharedBoard | None:
        """The newest states of jobs of `chat` (those no longer queued or running are left out);
        returns the board when this process is to show it now, as its editor."""
        async with self.db.transaction() as session:
            active = await repo.active_jobs(session, {reply.job for reply in replies if reply.job})
            replies = [reply for reply in replies if reply.job in active]
            if not replies:
                return None
            board = await repo.locked_or_new(session, chat)
            lines = _lines(board)
            for reply in replies:
                assert reply.job is not None
                lines[reply.job] = reply
                if reply.media is not None and reply.stage == Stage.PARTIAL:
                    board.preview_of = reply.job
            _changed(board, lines)
            return self._take(board)

    async def forget(self, chat: str, job: int) -> SharedBoard | None:
        """The job is over; returns the board when this process is to show it now, as its editor."""
        async with self.db.transaction() as session:
            board = await repo.locked(session, chat)
            if board is None:
                return None
            lines = _lines(board)
            if lines.pop(job, None) is None:
                return None
            if board.preview_of == job:
                board.preview_of = None
            _changed(board, lines)
            return self._take(board)

    async def look(self, chat: str) -> SharedBoard:
        """The newest board, for its editor; raises BoardLost when this process no longer is."""
        async with self.db.transaction() as session:
            board = self._mine(await repo.locked(session, chat))
            return _view(board)

    async def shown(
        self, chat: str, version: int, message_id: int | None, *, shows_photo: bool, sent: bool
    ) -> SharedBoard | None:
        """The message is now `message_id` (None: none) showing `version` (`sent`: just posted or
        edited). Returns the board when there is more to show; None once the message shows the newest
        version (the editor steps down) or the board is gone. Raises BoardLost when this process is
        no longer the editor."""
        async with self.db.transaction() as session:
            board = self._mine(await repo.locked(session, chat))
            board.message_id = message_id
            board.shows_photo = shows_photo
            board.shown = version
            if sent:
                board.edited_at = utcnow()
            if board.version == version and not board.lines and message_id is None:
                await repo.remove(session, board)
                return None
            if board.version == version and message_id is not None:
                board.editor = board.editor_until = None
                return None
            return _view(board)

    async def step_down(self, chat: str) -> None:
        """This process stops being the board's editor (it failed): the next change finds none."""
        async with self.db.transaction() as session:
            board = await repo.locked(session, chat)
            if board is not None and board.editor == self.owner:
                board.editor = board.editor_until = None

    def _take(self, board: StatusBoard) -> SharedBoard | None:
        now = utcnow()
        if board.editor is not None and board.editor_until is not None and board.editor_until > now:
            return None  # its editor shows this version too before stepping down
        board.editor = self.owner
        board.editor_until = now + timedelta(seconds=self.lease_s)
        return _view(board)

    def _mine(self, board: StatusBoard | None) -> StatusBoard:
        if board is None or board.editor != self.owner:
            raise BoardLost
        board.editor_until = utcnow() + timedelta(seconds=self.lease_s)
        return board


def _lines(board: StatusBoard) -> dict[int, Reply]:
    return {int(job): Reply.from_json(data) for job, data in board.lines}


def _changed(board: StatusBoard, lines: dict[int, Reply]) -> None:
    board.lines = [[job, reply.to_json()] for job, reply in lines.items()]
    board.version += 1


def _view(board: StatusBoard) -> SharedBoard:
    return SharedBoard(
        message_id=board.message_id,
        shows_photo=board.shows_photo,
        version=board.version,
        shown=board.shown,
        jobs=_lines(board),
        preview_of=board.preview_of,
        edited_at=board.edited_at,
    )
