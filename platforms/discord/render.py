"""Pure: a Reply as the arguments of one Discord message: content, attachment, buttons, ephemeral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from core.messages import Reply
from platforms.discord import buttons
from platforms.discord.buttons import CommandButton, JobButton

MAX_CONTENT = 2000


@dataclass(frozen=True, slots=True)
class Message:
    content: str
    attachment: str | None = None  # a storage key: uploaded as is, or as a JPEG over the size limit
    view: discord.ui.View | None = None
    ephemeral: bool = False  # only the asker sees it, where an interaction allows that


def message(reply: Reply) -> Message:
    rows: list[list[discord.ui.DynamicItem[Any]]] = []
    if reply.job is not None and reply.buttons:
        rows.append([JobButton(reply.job, b.kind.value, b.index, b.label) for b in reply.buttons])
    rows.extend(
        [
            CommandButton(choice.command, choice.label)
            for choice in row
            if len(choice.command) <= buttons.MAX_COMMAND
        ]
        for row in reply.choices
    )
    return Message(
        content=clip(reply.text),
        attachment=reply.media,
        view=buttons.view([row for row in rows if row]),
        ephemeral=reply.error or reply.private,
    )


def clip(text: str, limit: int = MAX_CONTENT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
