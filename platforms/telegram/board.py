"""A chat's status message: one message that shows every job of the chat still queued or drawing.

Telegram lets a bot post about one message a second to a chat and thirty a second in all, so a job
does not get a message of its own for its progress: the chat's jobs share one. Its first version is
the acknowledgement (several acknowledgements that wait for the chat's turn go out as one); later
states edit it; a job's result is a message of its own, and the board forgets the job; once no job
is left, the message is removed. With a single job the board reads exactly as that job's status.
Pure state: `platforms/telegram/sending.py` does the sending (`platforms/telegram/shared_status.py`
where several processes share the board).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.messages import Reply, ReplyType, Stage
from core.status_boards import SharedBoard

MAX_LINES = 10  # jobs listed; more are summed up in one line (a text message holds 4,096 characters)


@dataclass(slots=True)
class StatusBoard:
    message_id: int | None = None
    shows_photo: bool = False  # the message is a photo (a preview) with the board as its caption
    version: int = 0  # counts changes, so that an edit knows whether it showed the newest state
    _jobs: dict[int, Reply] = field(default_factory=dict)  # job -> its newest state, in arrival order
    _preview_of: int | None = None  # the job whose preview the message shows

    @classmethod
    def of(cls, shared: SharedBoard) -> StatusBoard:
        """The board that every process on the token shares, to render."""
        return cls(
            shared.message_id, shared.shows_photo, shared.version, dict(shared.jobs), shared.preview_of
        )

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def update(self, reply: Reply) -> None:
        """A job's newer state; a preview also becomes the picture of the message."""
        assert reply.job is not None
        self._jobs[reply.job] = reply
        self.version += 1
        if reply.media is not None and reply.stage == Stage.PARTIAL:
            self._preview_of = reply.job

    def forget(self, job: int) -> bool:
        """The job is over; True when the message still shows its preview and must be posted anew
        (Telegram cannot turn a photo back into text)."""
        self._jobs.pop(job, None)
        self.version += 1
        if self._preview_of != job:
            return False
        self._preview_of = None
        return self.shows_photo and bool(self._jobs)

    def has(self, job: int) -> bool:
        return job in self._jobs

    @property
    def preview(self) -> str | None:
        if self._preview_of is None:
            return None
        return self._jobs[self._preview_of].media

    def render(self) -> Reply:
        """The message as one reply: each job's line and, where there are several, a Cancel per job
        that says which."""
        states = list(self._jobs.values())
        shown = states[:MAX_LINES]
        lines = [state.text for state in shown]
        if len(states) > len(shown):
            lines.append(f"+{len(states) - len(shown)} …")
        rows = []
        for state in shown:
            for row in state.choices:
                if len(states) == 1:
                    rows.append(row)
                else:
                    rows.append(
                        tuple(replace(choice, label=f"{choice.label} #{state.job}") for choice in row)
                    )
        only = states[0] if len(states) == 1 else None
        return Reply(
            ReplyType.PROGRESS,
            text="\n\n".join(lines),
            media=self.preview,
            job=only.job if only else None,
            stage=only.stage if only else None,
            choices=tuple(rows),
        )
