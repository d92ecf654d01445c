"""Telegram messages as the core sees them: who asked, where, what they typed, which photos they meant.

In a private chat every message is for the bot. In a group the bot answers only when addressed: a
command with its @username (`/imagine@bot ...`), a mention of it, or a reply to one of its messages;
a command addressed to another bot is never ours. Photos count as references when they carry the
command as caption, when the command replies to them, or when they belong to the same album.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Message, User
from telegram.constants import ChatType, MessageEntityType

from core.errors import UserError
from core.messages import Attachment, UserRef
from platforms.telegram.media import DOWNLOAD_MAX_BYTES

ALBUM_TTL_S = 30 * 60
ALBUMS_KEPT = 500


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """One downloadable image of a message (the largest size of a photo, or an image document)."""

    message_id: int
    file_id: str
    name: str
    size: int | None


def user_ref(user: User) -> UserRef:
    """No names are kept: the numeric id identifies the person, the language picks the replies."""
    return UserRef("telegram", str(user.id), locale=user.language_code)


def text_for_core(message: Message, bot_username: str, bot_id: int) -> str | None:
    """The message's text with our @username removed, or None when it is not addressed to us."""
    text = message.text or message.caption or ""
    addressed = message.chat.type == ChatType.PRIVATE
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    if first.startswith("/") and "@" in first:
        name, _, target = first.partition("@")
        if target.lower() != bot_username.lower():
            return None  # a command for another bot
        text = text.replace(first, name, 1)
        addressed = True
    mention = re.compile(rf"@{re.escape(bot_username)}\b", re.IGNORECASE)
    if mention.search(text):
        text = mention.sub("", text)
        addressed = True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        addressed = True
    entities = message.entities or message.caption_entities
    if any(e.type == MessageEntityType.TEXT_MENTION and e.user and e.user.id == bot_id for e in entities):
        addressed = True
    return re.sub(r"[ \t]{2,}", " ", text).strip() if addressed else None


def photo_of(message: Message) -> PhotoRef | None:
    if message.photo:
        largest = message.photo[-1]
        return PhotoRef(
            message.message_id, largest.file_id, f"photo-{largest.file_unique_id}.jpg", largest.file_size
        )
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        name = document.file_name or f"image-{document.file_unique_id}"
        return PhotoRef(message.message_id, document.file_id, name, document.file_size)
    return None


class Albums:
    """The photos of recent albums, so a command on one album message can use all of them."""

    def __init__(self) -> None:
        self._albums: OrderedDict[str, tuple[float, dict[int, PhotoRef]]] = OrderedDict()

    def remember(self, message: Message) -> None:
        photo = photo_of(message)
        if message.media_group_id is None or photo is None:
            return
        now = time.monotonic()
        _, photos = self._albums.pop(message.media_group_id, (now, {}))
        photos[photo.message_id] = photo
        self._albums[message.media_group_id] = (now, photos)
        while len(self._albums) > ALBUMS_KEPT or (
            self._albums and next(iter(self._albums.values()))[0] < now - ALBUM_TTL_S
        ):
            self._albums.popitem(last=False)

    def photos(self, media_group_id: str) -> list[PhotoRef]:
        _, photos = self._albums.get(media_group_id, (0.0, {}))
        return [photos[key] for key in sorted(photos)]


def references(message: Message, albums: Albums) -> list[PhotoRef]:
    """The photos a command means: its own (and its album's), else those of the message it replies to."""
    for source in (message, message.reply_to_message):
        if source is None:
            continue
        own = photo_of(source)
        if source.media_group_id is not None:
            album = albums.photos(source.media_group_id)
            if album:
                return album
        if own is not None:
            return [own]
    return []


def attachment(photo: PhotoRef, download: Callable[[str], Awaitable[bytes]]) -> Attachment:
    """Downloaded only when the core needs it; Telegram lets bots download files up to 20 MB."""

    async def fetch() -> bytes:
        if photo.size is not None and photo.size > DOWNLOAD_MAX_BYTES:
            raise UserError(
                "reference_download_too_large",
                name=photo.name,
                size=round(photo.size / 1024 / 1024, 1),
                limit=DOWNLOAD_MAX_BYTES // 1024 // 1024,
            )
        return await download(photo.file_id)

    return Attachment(name=photo.name, fetch=fetch, size=photo.size)
