"""Pure: a Reply as one line of JSON or as readable terminal text.

Files are marked with icons rather than words, so a reply reads the same in every language; buttons
show their (translated) label beside the command that does the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from core.messages import Reply, ReplyType

IMAGE = "🖼"
FILE = "📎"


def as_json(reply: Reply) -> str:
    return json.dumps(reply.to_json(), ensure_ascii=False)


def as_text(reply: Reply, locate: Callable[[str], str]) -> str:
    """`locate`: where the person at the console finds a stored image or file."""
    if reply.type == ReplyType.IMAGE and reply.media:
        return f"{IMAGE} {locate(reply.media)}\n{reply.text}"
    if reply.type == ReplyType.FILE and reply.media:
        return f"{FILE} {locate(reply.media)}" + (f"\n{reply.text}" if reply.text else "")
    if reply.type == ReplyType.PROGRESS:
        return f"… {reply.text}" + (f" → {IMAGE} {locate(reply.media)}" if reply.media else "")
    if reply.type == ReplyType.ACTIONS:
        choices = " | ".join(
            f"{button.label}: /action {reply.job} {button.kind.value}"
            + (f" {button.index}" if button.index > 1 else "")
            for button in reply.buttons
        )
        return f"{reply.text}\n  {choices}" if reply.text else choices
    return reply.text
