"""Result images as Telegram photos: the PNG itself when Telegram takes it as a photo, else a JPEG
preview that does, with the PNG sent along as a document."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from platforms.images import jpeg_within

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000  # width + height
PHOTO_MAX_RATIO = 20
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024  # what the public Bot API accepts as an upload
DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024  # what the public Bot API lets a bot download


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    photo: bytes
    filename: str
    original: bytes | None  # set when `photo` is a preview: the PNG to send as a document


def photo_fits(width: int, height: int, size: int) -> bool:
    ratio = max(width, height) / max(1, min(width, height))
    return size <= PHOTO_MAX_BYTES and width + height <= PHOTO_MAX_SIDES and ratio <= PHOTO_MAX_RATIO


def prepare_photo(data: bytes, key: str) -> PhotoUpload:
    """Blocking (may re-encode the image): run it in a thread. `key` names the stored image."""
    name = PurePosixPath(key)
    with Image.open(io.BytesIO(data)) as image:
        if photo_fits(image.width, image.height, len(data)):
            return PhotoUpload(data, name.name, None)
        return PhotoUpload(jpeg_preview(image), f"{name.stem}.jpg", data)


def jpeg_preview(image: Image.Image) -> bytes:
    """The best-quality JPEG that Telegram accepts as a photo."""
    scale = min(1.0, (PHOTO_MAX_SIDES - 1) / (image.width + image.height))
    if scale < 1.0:
        image = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)
    return jpeg_within(image, PHOTO_MAX_BYTES)
