"""Attachments within Discord's upload limit: the file as is, else a JPEG preview of it. Blocking."""

from __future__ import annotations

import io
from pathlib import PurePosixPath

import discord

from platforms.images import jpeg_bytes_within

PICTURES = {".png", ".jpg", ".jpeg", ".webp"}


def upload(data: bytes, key: str, limit: int) -> discord.File:
    """Only pictures shrink: any other file goes as it is (the core sizes those to the door's limit).
    `key` names the stored file."""
    name = PurePosixPath(key)
    if len(data) <= limit or name.suffix.lower() not in PICTURES:
        return discord.File(io.BytesIO(data), filename=name.name)
    return discord.File(io.BytesIO(jpeg_bytes_within(data, limit)), filename=f"{name.stem}.jpg")
