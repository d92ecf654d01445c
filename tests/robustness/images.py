"""Files that claim to be images: corrupt, truncated, empty, and decompression bombs (a few kilobytes
that decode to tens of megapixels)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from functools import cache

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY = 0  # PNG colour type: one 8-bit channel


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, GREY, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def bomb_by_header(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` but that carries one row: under 100 bytes."""
    return _png(width, height, zlib.compress(bytes(1 + width)))


@cache
def bomb(width: int, height: int) -> bytes:
    """A complete, valid black PNG: each row is a filter byte and `width` zeros, which deflate to
    almost nothing (8000 x 8000 is about 60 KB and decodes to 64 MB)."""
    compressor = zlib.compressobj(9)
    rows = bytes((1 + width) * 500)
    parts = [compressor.compress(rows) for _ in range(height // 500)]
    parts.append(compressor.compress(bytes((1 + width) * (height % 500))))
    parts.append(compressor.flush())
    return _png(width, height, b"".join(parts))


def noise_png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def truncated_png() -> bytes:
    whole = noise_png()
    return whole[: len(whole) // 2]
