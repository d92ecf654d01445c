"""Pure: replies as WeCom messages. WeCom has no buttons, no captions and no edits, so:

- text goes in parts of at most 2048 bytes of UTF-8, cut at line breaks where possible;
- a result image is followed by one text: its caption, then its actions as short replies to type
  (`🔁 Reroll: reroll 42`, `⬆️ Upscale 2K: up2k 42`), which the door reads back (see `incoming`);
- a reply's choices become `label: command` lines, unless its text already names the command;
- progress is a short text: queued and started (customers, whose replies WeCom counts, get only
  queued); previews are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.messages import ActionKind, Button, ChatRef, Reply, ReplyType, Stage

TEXT_BYTES = 2048
PLATFORM = "wecom"
MEMBER = "user"
GROUP = "group"
CUSTOMER_PLATFORM = "wecom-kf"
MEMBER_STAGES = frozenset({Stage.QUEUED, Stage.STARTED})
CUSTOMER_STAGES = frozenset({Stage.QUEUED})
SHORT_ACTIONS = {
    ActionKind.REROLL: "reroll",
    ActionKind.UPSCALE_2K: "up2k",
    ActionKind.UPSCALE_4K: "up4k",
    ActionKind.VARY: "vary",
}


@dataclass(frozen=True, slots=True)
class TextPart:
    content: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    media: str  # a storage key


@dataclass(frozen=True, slots=True)
class FilePart:
    media: str  # a storage key


Part = TextPart | ImagePart | FilePart


def parts(
    reply: Reply, *, stages: frozenset[Stage] = MEMBER_STAGES, actions_shown: bool = False
) -> list[Part]:
    """What to send for `reply`, in order; `actions_shown`: its job's actions went with its image."""
    if reply.type == ReplyType.PROGRESS:
        return _texts(reply.text, *choice_lines(reply)) if reply.stage in stages else []
    if reply.type == ReplyType.IMAGE and reply.media is not None:
        return [ImagePart(reply.media), *_texts(reply.text, *action_lines(reply), *choice_lines(reply))]
    if reply.type == ReplyType.FILE and reply.media is not None:
        return [FilePart(reply.media)]
    if reply.type == ReplyType.ACTIONS:
        if actions_shown:
            return []
        return _texts(*(action_lines(reply) or [reply.text]))
    return _texts(reply.text, *choice_lines(reply))


def short_command(job: int, button: Button) -> str:
    """`reroll 42`, `up2k 42`, `vary 42 2` (the image number only when it is not the first)."""
    command = f"{SHORT_ACTIONS[button.kind]} {job}"
    return f"{command} {button.index}" if button.index > 1 else command


def action_lines(reply: Reply) -> list[str]:
    if reply.job is None:
        return []
    return [f"{button.label}: {short_command(reply.job, button)}" for button in reply.buttons]


def choice_lines(reply: Reply) -> list[str]:
    return [
        f"{choice.label}: {choice.command}"
        for row in reply.choices
        for choice in row
        if choice.command not in reply.text
    ]


def split_text(text: str, limit: int = TEXT_BYTES) -> list[str]:
    """Parts of at most `limit` bytes of UTF-8, cut at line breaks where possible; none when blank."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest.encode()) > limit:
        head = rest.encode()[:limit].decode(errors="ignore")  # never half a character
        cut = head.rfind("\n")
        if cut <= 0:
            cut = len(head)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [piece for piece in pieces if piece]


def text_message(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def media_message(media_type: str, media_id: str) -> dict[str, Any]:
    return {"msgtype": media_type, media_type: {"media_id": media_id}}


def member_chat(userid: str) -> ChatRef:
    return ChatRef(PLATFORM, MEMBER, userid)


def customer_chat(open_kfid: str, external_userid: str) -> ChatRef:
    return ChatRef(CUSTOMER_PLATFORM, open_kfid, external_userid)


def _texts(*lines: str) -> list[Part]:
    return [TextPart(piece) for piece in split_text("\n".join(line for line in lines if line))]
