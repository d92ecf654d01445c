"""Image files under the data directory: uploaded references, previews and outputs."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from core.errors import UserError

MAX_REFERENCE_EDGE = 4096
# Decoding costs memory by the pixel, not by the byte: a PNG of a few kilobytes can claim 80 megapixels.
# A 200-megapixel phone JPEG still fits, as JPEGs are decoded at a reduced scale (`draft`).
MAX_REFERENCE_PIXELS = 50_000_000


class Storage:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.outputs = data_dir / "outputs"
        self.uploads = data_dir / "uploads"
        self.previews = data_dir / "previews"

    def prepare(self) -> None:
        for directory in (self.outputs, self.uploads, self.previews):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def save_reference(self, data: bytes, name: str) -> str:
        """Checks that `data` is an image, stores it as PNG (content-addressed) and returns its path."""
        png = normalize_reference(data, name)
        digest = hashlib.sha256(png).hexdigest()[:32]
        target = self.uploads / f"{digest}.png"
        if not target.exists():
            _write_atomically(target, png)
        return str(target.relative_to(self.root))

    def save_output(self, job_id: int, index: int, png: bytes) -> str:
        target = self.outputs / f"job-{job_id}-{index + 1}.png"
        _write_atomically(target, png)
        return str(target.relative_to(self.root))

    def save_preview(self, job_id: int, index: int, image_bytes: bytes) -> Path:
        target = self.previews / f"job-{job_id}-partial-{index + 1}.png"
        _write_atomically(target, image_bytes)
        return target


def normalize_reference(data: bytes, name: str) -> bytes:
    """PNG bytes of an uploaded reference, at most 4096 px on its longer edge."""
    too_many_pixels = UserError(
        "reference_too_many_pixels", name=name, limit=MAX_REFERENCE_PIXELS // 1_000_000
    )
    try:
        with Image.open(io.BytesIO(data)) as source:
            source.draft(None, (MAX_REFERENCE_EDGE, MAX_REFERENCE_EDGE))
            if source.width * source.height > MAX_REFERENCE_PIXELS:
                raise too_many_pixels  # before a single pixel is decoded
            source.load()
            picture = source.convert("RGBA" if source.mode in ("RGBA", "LA", "P") else "RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own, larger limit
        raise too_many_pixels from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise UserError("reference_not_image", name=name) from None
    picture.thumbnail((MAX_REFERENCE_EDGE, MAX_REFERENCE_EDGE))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(target.suffix + ".part")
    temporary.write_bytes(data)
    temporary.replace(target)
