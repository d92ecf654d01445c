"""Attachments within Discord's upload limit: the file as is, else a JPEG preview of it. Blocking."""

from __future__ import annotations

import io
from pathlib import Path

import discord
from PIL import Image

PICTURES = {".png", ".jpg", ".jpeg", ".webp"}
JPEG_QUALITIES = (90, 80, 70)
SHRINK = 0.75
MIN_EDGE = 64


def upload(path: Path, limit: int) -> discord.File:
    """Only pictures shrink: any other file goes as it is (the core sizes those to the door's limit)."""
    data = path.read_bytes()
    if len(data) <= limit or path.suffix.lower() not in PICTURES:
        return discord.File(io.BytesIO(data), filename=path.name)
    return discord.File(io.BytesIO(jpeg_within(data, limit)), filename=f"{path.stem}.jpg")


def jpeg_within(data: bytes, limit: int) -> bytes:
    """The image as a JPEG of at most `limit` bytes: lower quality first, then smaller."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    while True:
        for quality in JPEG_QUALITIES:
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=quality, optimize=True)
            if buffer.tell() <= limit:
                return buffer.getvalue()
        width, height = (int(edge * SHRINK) for edge in picture.size)
        if min(width, height) < MIN_EDGE:
            raise ValueError(f"no JPEG of this image fits in {limit} bytes")
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
