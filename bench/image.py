"""6. Image path: a 3840x2160 PNG result too big for a Telegram photo (over 10 MB) turned into the JPEG
preview Telegram accepts, by the function the Telegram door runs for it (`prepare_photo`: read the
file, decode, choose, encode). The picture is noise, the worst case for both formats, as in the
Telegram tests. Median of a few runs after one warm-up.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import Figure
from platforms.telegram.media import PHOTO_MAX_BYTES, PHOTO_MAX_SIDES, prepare_photo

WIDTH, HEIGHT = 3840, 2160
RUNS = 3


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job-1-1.png"
        Image.frombytes("RGB", (WIDTH, HEIGHT), os.urandom(WIDTH * HEIGHT * 3)).save(path, compress_level=1)
        png_mb = path.stat().st_size / 1024 / 1024
        prepare_photo(path.read_bytes(), path.name)  # warm-up
        timings = []
        for _ in range(RUNS):
            start = time.perf_counter()
            upload = prepare_photo(path.read_bytes(), path.name)
            timings.append(time.perf_counter() - start)
    with Image.open(io.BytesIO(upload.photo)) as preview:
        compliant = (
            preview.format == "JPEG"
            and len(upload.photo) <= PHOTO_MAX_BYTES
            and sum(preview.size) <= PHOTO_MAX_SIDES
        )
        size = preview.size
    if not compliant or upload.original is None:
        raise RuntimeError("the preview is not a photo Telegram accepts")
    median = statistics.median(timings)
    return [
        Figure(
            key="image",
            title="6. Image path: 3840x2160 PNG -> Telegram JPEG preview",
            value=f"{median * 1000:.0f} ms",
            details={
                "median_ms": median * 1000,
                "runs_ms": [t * 1000 for t in timings],
                "png_mb": png_mb,
                "jpeg_mb": len(upload.photo) / 1024 / 1024,
                "jpeg_size": list(size),
            },
        )
    ]
