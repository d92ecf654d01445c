"""Pure: replies as Telegram wants them — keyboards, captions, message-sized text, chat references."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters

from core.messages import ChatRef, Reply
from platforms.telegram.callbacks import CallbackSigner

CAPTION_CHARS = 1024
TEXT_CHARS = 4096
BUTTONS_PER_ROW = 2
PLATFORM = "telegram"


def keyboard(reply: Reply, signer: CallbackSigner) -> InlineKeyboardMarkup | None:
    """Job actions two to a row, then the reply's rows of choices; None when there is nothing to press."""
    rows: list[list[InlineKeyboardButton]] = []
    if reply.job is not None and reply.buttons:
        buttons = [
            InlineKeyboardButton(button.label, callback_data=signer.for_button(reply.job, button))
            for button in reply.buttons
        ]
        rows.extend(buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW))
    for choices in reply.choices:
        row = [
            InlineKeyboardButton(choice.label, callback_data=data)
            for choice in choices
            if (data := signer.for_choice(choice)) is not None
        ]
        if row:
            rows.append(row)
    return InlineKeyboardMarkup(rows) if rows else None


def caption(text: str) -> str:
    return text if len(text) <= CAPTION_CHARS else text[: CAPTION_CHARS - 1] + "…"


def split_text(text: str, limit: int = TEXT_CHARS) -> list[str]:
    """Message-sized parts, cut at line breaks where possible; never an empty message."""
    parts: list[str] = []
    rest = text.strip() or "…"
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts


def chat_ref(chat_id: int, chat_type: str) -> ChatRef:
    """`telegram:private:42`, `telegram:supergroup:-100123`."""
    return ChatRef(PLATFORM, chat_type, str(chat_id))


def chat_id(chat: ChatRef) -> int:
    return int(chat.chat_id)


def reply_to(message_id: int | None) -> ReplyParameters | None:
    """A reply to `message_id` that still goes if that message is gone."""
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)
