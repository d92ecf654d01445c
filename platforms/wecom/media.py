"""Files as WeCom takes them: images up to 10 MB (JPG or PNG), files up to 20 MB. Blocking: run in a
thread. A result too large for an image goes as a JPEG that fits, with the original as a file when
that fits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from platforms.images import jpeg_bytes_within

IMAGE_MAX_BYTES = 10 * 1024 * 1024
FILE_MAX_BYTES = 20 * 1024 * 1024
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class ImageUploads:
    image: Upload
    original: Upload | None  # the file itself, when `image` had to be a JPEG of it and it fits


def image_uploads(data: bytes, key: str) -> ImageUploads:
    """`key` names the stored image."""
    name = PurePosixPath(key)
    mime = MIME.get(name.suffix.lower())
    if mime is not None and len(data) <= IMAGE_MAX_BYTES:
        return ImageUploads(Upload(name.name, data, mime), None)
    preview = Upload(f"{name.stem}.jpg", jpeg_bytes_within(data, IMAGE_MAX_BYTES), "image/jpeg")
    return ImageUploads(preview, file_upload(key, data) if len(data) <= FILE_MAX_BYTES else None)


def file_upload(key: str, data: bytes) -> Upload:
    name = PurePosixPath(key)
    return Upload(name.name, data, MIME.get(name.suffix.lower(), "application/octet-stream"))
