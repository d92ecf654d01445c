"""Platform-neutral messages: what a door hands the core, and what the core hands back.

Every platform adapter turns its SDK's events into an `Incoming` and renders `Reply` objects with
its own SDK. Nothing here knows about any platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.commands.parser import Command


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person on one platform: `telegram:42`, `console:alice`."""

    platform: str
    user_id: str
    display_name: str | None = None
    locale: str | None = None

    @property
    def identity(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """Where to answer: serialisable as `platform:kind:id`, e.g. `telegram:private:42`."""

    platform: str
    kind: str
    chat_id: str

    def serialize(self) -> str:
        return f"{self.platform}:{self.kind}:{self.chat_id}"

    @classmethod
    def parse(cls, value: str) -> ChatRef:
        platform, kind, chat_id = value.split(":", 2)
        if not (platform and kind and chat_id):
            raise ValueError(f"not a chat reference: {value!r}")
        return cls(platform, kind, chat_id)


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image the user attached. `fetch` downloads it only when the core needs it."""

    name: str
    fetch: Callable[[], Awaitable[bytes]]
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from a user, as the core sees it."""

    user: UserRef
    chat: ChatRef
    text: str
    attachments: tuple[Attachment, ...] = ()
    message_id: str | None = None
    # What a door built from typed input instead of text (a Discord slash command): never turned
    # back into text for the core to parse again.
    command: Command | None = None
    # Whether the door shows choices as buttons (its capabilities); without them, texts say what to type.
    shows_buttons: bool = True
    # How the door reaches the sender privately (a DM, the member's own chat), when it can: notices
    # about their own affairs (payments, refunds, support answers) go there when they asked in a group.
    private_chat: ChatRef | None = None
    # In a group: whether the sender administers it, as the platform defines it (the door asks the
    # platform only when the core needs to know). None where the door cannot tell.
    group_admin: Callable[[], Awaitable[bool]] | None = None
    # A link that opens a chat with the bot and starts it with a payload (Telegram's t.me deep link),
    # `{payload}` standing for it, when the door has one: invitations are shared as such links.
    start_link: str | None = None


def declared(value: bool) -> Callable[[], Awaitable[bool]]:
    """A `group_admin` the door knew with the message itself (the permissions it came with)."""

    async def answer() -> bool:
        return value

    return answer


class Event(StrEnum):
    """What a reply reports, for doors that add something of their own to it."""

    CATALOGUE_SHOWN = "catalogue_shown"  # the list of what can be bought: Telegram adds its Stars offers
    ITEM_CHOSEN = "item_chosen"  # `/buy <item>` (`Reply.item`): a door that sells it itself offers it
    # A pointer in a group to a private message that waits: a door adds its way to open a private chat.
    PRIVATE_WAITING = "private_waiting"


class ActionKind(StrEnum):
    REROLL = "reroll"
    UPSCALE_2K = "upscale-2k"
    UPSCALE_4K = "upscale-4k"
    VARY = "vary"


@dataclass(frozen=True, slots=True)
class ActionPress:
    """A button press (or its typed equivalent) on a finished job."""

    user: UserRef
    chat: ChatRef
    job_id: int
    kind: ActionKind
    index: int = 1


class ReplyType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    FILE = "file"
    PROGRESS = "progress"
    ACTIONS = "actions"


class Stage(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class Button:
    """One action offered under a result; `label` is already translated."""

    kind: ActionKind
    label: str
    index: int = 1


@dataclass(frozen=True, slots=True)
class Choice:
    """A shortcut for typing a command: a door with buttons shows `label`; a press sends `command`
    on behalf of whoever pressed it. Doors without buttons ignore choices (the text says what to type).
    Commands stay short (Telegram allows 64 bytes of button data) and carry no private text."""

    label: str
    command: str


Menu = tuple[tuple[Choice, ...], ...]
MediaReader = Callable[[str], Awaitable[bytes]]  # a reply's `media` key -> its bytes (`Core.media`)


@dataclass(frozen=True, slots=True)
class Reply:
    """One thing to show. Build them with the helpers below rather than by hand.

    `final` marks the last reply a job will ever send (its result, failure or cancellation), so a
    door that waits for its jobs knows when it is done. `error` marks a refusal (a door may show
    it as a toast or only to the asker); `private` marks what only the asker should see, where the
    platform can do that (balances, history). `buttons` are job actions; `choices` are rows of
    command shortcuts. `resend_note` (images) is shown instead of the image when an earlier attempt
    to send it was cut off: it may have arrived, and a user must never get the same image twice.
    `media` is the storage key of an image or file (`core.generation.storage`): a door reads its
    bytes through `Core.media`, from whichever machine stored it.
    """

    type: ReplyType
    text: str = ""
    media: str | None = None
    job: int | None = None
    stage: Stage | None = None
    buttons: tuple[Button, ...] = ()
    final: bool = False
    choices: Menu = ()
    error: bool = False
    private: bool = False
    resend_note: str = ""
    event: Event | None = None  # what happened, for a door that reacts to it; never stored
    item: str | None = None  # the pack or plan `event` is about; never stored

    def instead_of_resending(self) -> Reply:
        """What to send when this image may already have reached the chat."""
        return Reply(
            ReplyType.TEXT,
            text=self.resend_note,
            job=self.job,
            final=self.final,
            choices=self.choices,
            private=self.private,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """The inverse of `to_json`, for replies kept in the delivery outbox."""
        return cls(
            type=ReplyType(data["type"]),
            text=data.get("text", ""),
            media=data.get("media") or _key_of_path(data.get("path")),
            job=data.get("job"),
            stage=Stage(data["stage"]) if "stage" in data else None,
            buttons=tuple(
                Button(ActionKind(b["action"]), b["label"], b["index"]) for b in data.get("actions", ())
            ),
            final=bool(data.get("final", False)),
            choices=tuple(
                tuple(Choice(choice["label"], choice["command"]) for choice in row)
                for row in data.get("choices", ())
            ),
            error=bool(data.get("error", False)),
            private=bool(data.get("private", False)),
            resend_note=data.get("resend_note", ""),
        )

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"type": self.type.value, "text": self.text}
        if self.media is not None:
            data["media"] = self.media
        if self.job is not None:
            data["job"] = self.job
        if self.stage is not None:
            data["stage"] = self.stage.value
        if self.buttons:
            data["actions"] = [
                {"action": b.kind.value, "index": b.index, "label": b.label} for b in self.buttons
            ]
        if self.final:
            data["final"] = True
        if self.choices:
            data["choices"] = [
                [{"label": choice.label, "command": choice.command} for choice in row] for row in self.choices
            ]
        if self.error:
            data["error"] = True
        if self.private:
            data["private"] = True
        if self.resend_note:
            data["resend_note"] = self.resend_note
        return data


def text(
    message: str,
    *,
    job: int | None = None,
    final: bool = False,
    choices: Menu = (),
    error: bool = False,
    private: bool = False,
    event: Event | None = None,
    item: str | None = None,
) -> Reply:
    return Reply(
        ReplyType.TEXT,
        text=message,
        job=job,
        final=final,
        choices=choices,
        error=error,
        private=private,
        event=event,
        item=item,
    )


def image(
    media: str,
    caption: str,
    *,
    job: int | None = None,
    buttons: tuple[Button, ...] = (),
    resend_note: str = "",
) -> Reply:
    """A result image; `buttons` are the actions on this image when the door can attach them to it."""
    return Reply(
        ReplyType.IMAGE, text=caption, media=media, job=job, buttons=buttons, resend_note=resend_note
    )


def file(media: str, caption: str = "", *, job: int | None = None) -> Reply:
    return Reply(ReplyType.FILE, text=caption, media=media, job=job)


def progress(job: int, stage: Stage, message: str, *, media: str | None = None, choices: Menu = ()) -> Reply:
    return Reply(ReplyType.PROGRESS, text=message, media=media, job=job, stage=stage, choices=choices)


def actions(job: int, buttons: tuple[Button, ...], message: str = "", *, final: bool = True) -> Reply:
    return Reply(ReplyType.ACTIONS, text=message, job=job, buttons=buttons, final=final)


def _key_of_path(path: str | None) -> str | None:
    """A reply queued before replies named storage keys held a file's path under the data folder,
    whose last two parts are its key (`.../outputs/job-7-1.png`)."""
    if not path:
        return None
    return "/".join(path.replace("\\", "/").split("/")[-2:])
