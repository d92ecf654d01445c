"""Attachments within Discord's upload limit: the file as is, else a JPEG preview of it. Blocking."""

from __future__ import annotations

import io
from pathlib import Path

import discord

from platforms.images import jpeg_bytes_within

PICTURES = {".png", ".jpg", ".jpeg", ".webp"}


def upload(path: Path, limit: int) -> discord.File:
    """Only pictures shrink: any other file goes as it is (the core sizes those to the door's limit)."""
    data = path.read_bytes()
    if len(data) <= limit or path.suffix.lower() not in PICTURES:
        return discord.File(io.BytesIO(data), filename=path.name)
    return discord.File(io.BytesIO(jpeg_bytes_within(data, limit)), filename=f"{path.stem}.jpg")
