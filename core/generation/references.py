"""Reference images: measured from their header, then decoded a few at a time, reduced as they decode.

Decoding costs memory by the pixel, not by the byte: a PNG of a few hundred kilobytes can claim 50
megapixels, 200 MB once decoded. So a reference is refused from its header when it has too many
pixels for its kind of file, at most `max_concurrent_decodes` are decoded at once in a process, and
each decode keeps one full-size copy of the picture: it is reduced band by band into the (at most
4096 px) picture that is stored. The figures are in bench/README.md (`python -m bench image_memory`).
"""

from __future__ import annotations

import asyncio
import ctypes
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TypeVar

from PIL import Image, ImageFile, UnidentifiedImageError

from core.errors import UserError
from core.generation.storage import Storage

T = TypeVar("T")

# gpt-image-2 draws at most 3840 px on the longer edge; larger references only cost memory and upload
# time. Reductions are by whole factors (cheap, no resampling copy), so a larger picture is stored at
# between 2048 and 4096 px on its longer edge.
MAX_REFERENCE_EDGE = 4096
# Decoded pixels per kind of file, so that decoding one holds at most about 250 MB at its peak. PNG
# (and JPEG, decoded at a reduced scale, `draft`, so a larger photo fits) holds up to 4 bytes a pixel.
# A progressive JPEG also holds its coefficients for the whole picture, up to 6 bytes a pixel of its
# full size; Pillow's WebP decoder holds three full-size copies. Measured with Pillow 13: a 49 MP RGBA
# PNG +244 MB, a 16 MP WebP +251 MB, a 25 MP progressive 4:4:4 JPEG +168 MB.
MAX_REFERENCE_PIXELS = 50_000_000
MAX_PROGRESSIVE_JPEG_PIXELS = 25_000_000
MAX_WEBP_PIXELS = 16_000_000
FORMATS = ["PNG", "JPEG", "WEBP"]  # what the "not an image" message names; MPO photos open as JPEG
BAND_ROWS = 64  # rows of the stored picture made from one band of the decoded one


def check_header(data: bytes, name: str) -> None:
    """Refuses, from the header alone, a file that is not an image we read or has too many pixels.
    Blocking (Pillow reads the header's chunks): run it in a thread."""
    with _opened(data, name):
        pass


def reduced_png(data: bytes, name: str) -> bytes:
    """The reference as PNG, at most MAX_REFERENCE_EDGE px on its longer edge. Blocking: decodes."""
    with _opened(data, name) as source:
        source.load()
        picture = _reduced(source)
        source.close()  # the full-size pixels go before the stored picture is encoded
    out = io.BytesIO()
    picture.save(out, format="PNG")
    del picture
    _return_freed_memory()
    return out.getvalue()


@contextmanager
def _opened(data: bytes, name: str) -> Iterator[ImageFile.ImageFile]:
    """The image, not decoded yet, set to decode at a reduced scale where its format can. Failures to
    read it, in the `with` block too, are the user's "not an image"."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as source:
            _prepare(source, name)
            yield source
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own, larger limit
        raise _too_many_pixels(name, MAX_REFERENCE_PIXELS) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise UserError("reference_not_image", name=name) from None


def _prepare(source: ImageFile.ImageFile, name: str) -> None:
    """Refuses what has too many pixels to decode; JPEGs are set to decode at a reduced scale first."""
    width, height = source.size
    if source.format == "WEBP":
        limit = MAX_WEBP_PIXELS
    elif source.format in ("JPEG", "MPO"):
        if source.info.get("progressive") and width * height > MAX_PROGRESSIVE_JPEG_PIXELS:
            raise _too_many_pixels(name, MAX_PROGRESSIVE_JPEG_PIXELS)
        scale = _draft_scale(_factor(source.size))
        source.draft(None, (max(1, width // scale), max(1, height // scale)))
        width, height = source.size
        limit = MAX_REFERENCE_PIXELS
    else:
        limit = MAX_REFERENCE_PIXELS
    if width * height > limit:
        raise _too_many_pixels(name, limit)  # before a single pixel is decoded


def _too_many_pixels(name: str, limit: int) -> UserError:
    return UserError("reference_too_many_pixels", name=name, limit=limit // 1_000_000)


def _factor(size: tuple[int, int]) -> int:
    """The whole factor that brings the longer edge to at most MAX_REFERENCE_EDGE."""
    return -(-max(size) // MAX_REFERENCE_EDGE)


def _draft_scale(factor: int) -> int:
    """The JPEG decoder's largest scale (1/1, 1/2, 1/4 or 1/8) that keeps at least the stored size."""
    return next(scale for scale in (8, 4, 2, 1) if scale <= factor)


def _reduced(source: Image.Image) -> Image.Image:
    """`source` reduced and converted band by band: never a second full-size copy (Pillow's own
    `reduce` would make one for pictures with alpha, and `convert` one for any)."""
    factor = _factor(source.size)
    width, height = source.size
    mode = "RGBA" if source.mode in ("RGBA", "LA", "PA", "P") or "transparency" in source.info else "RGB"
    picture = Image.new(mode, (-(-width // factor), -(-height // factor)))
    step = BAND_ROWS * factor
    for top in range(0, height, step):
        band = source.crop((0, top, width, min(height, top + step))).convert(mode)
        picture.paste(band.reduce(factor) if factor > 1 else band, (0, top // factor))
    return picture


def _return_freed_memory() -> None:
    """Hands the freed pixels back to the system. Otherwise glibc keeps them in the arena of the
    thread that decoded, and each thread has its own: with eight 49 MP references decoded one after
    the other, the process peaked at +489 MB and stayed +474 MB above idle without this, against
    +247 MB and +0 MB with it (bench/image_memory.py)."""
    trim = getattr(_libc(), "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:  # no C library to load symbols from: nothing to trim
        return None


class DecodeGate:
    """At most `limit` decodes at a time in this process. `running` and `waiting` say how many now."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(limit)

    async def run(self, decode: Callable[..., T], *args: object) -> T:
        """`decode(*args)` in a thread once a slot is free. The slot stays taken until the thread
        ends, even when the caller is cancelled meanwhile (a thread cannot be stopped)."""
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        thread = asyncio.ensure_future(asyncio.to_thread(decode, *args))
        thread.add_done_callback(self._release)
        return await asyncio.shield(thread)

    def _release(self, thread: asyncio.Future[object]) -> None:
        self.running -= 1
        self._slots.release()
        if not thread.cancelled():
            thread.exception()  # retrieved: the caller that was cancelled will not read it


class References:
    """The references of `/imagine`: measured first, then decoded through the gate and stored."""

    def __init__(self, storage: Storage, max_concurrent_decodes: int) -> None:
        self._storage = storage
        self.gate = DecodeGate(max_concurrent_decodes)

    async def check(self, data: bytes, name: str) -> None:
        await asyncio.to_thread(check_header, data, name)

    async def store(self, data: bytes, name: str) -> str:
        """Decodes the reference (reduced), stores it as PNG and returns its path under the data dir."""
        png = await self.gate.run(reduced_png, data, name)
        return await self._storage.save_reference(png)
