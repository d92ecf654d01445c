"""Files as WeCom takes them: images up to 10 MB (JPG or PNG), files up to 20 MB. Blocking: run in a
thread. A result too large for an image goes as a JPEG that fits, with the original as a file when
that fits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def image_uploads(path: Path) -> ImageUploads:
    data = path.read_bytes()
    mime = MIME.get(path.suffix.lower())
    if mime is not None and len(data) <= IMAGE_MAX_BYTES:
        return ImageUploads(Upload(path.name, data, mime), None)
    preview = Upload(f"{path.stem}.jpg", jpeg_bytes_within(data, IMAGE_MAX_BYTES), "image/jpeg")
    return ImageUploads(preview, file_upload(path, data) if len(data) <= FILE_MAX_BYTES else None)


def file_upload(path: Path, data: bytes) -> Upload:
    return Upload(path.name, data, MIME.get(path.suffix.lower(), "application/octet-stream"))
