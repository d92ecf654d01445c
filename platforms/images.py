"""Pictures too large for a platform's limit: the best JPEG of them that fits. Blocking: use a thread."""

from __future__ import annotations

import io

from PIL import Image

JPEG_QUALITIES = (92, 85, 75, 60)
SHRINK = 0.75
MIN_EDGE = 64


def jpeg_within(picture: Image.Image, limit: int) -> bytes:
    """`picture` as a JPEG of at most `limit` bytes: lower quality first, then smaller."""
    picture = picture.convert("RGB")
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


def jpeg_bytes_within(data: bytes, limit: int) -> bytes:
    with Image.open(io.BytesIO(data)) as opened:
        return jpeg_within(opened, limit)
