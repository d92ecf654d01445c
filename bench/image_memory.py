"""8. Image memory: what a 49-megapixel PNG reference costs the bot's process, alone and eight at once.

The reference is a 7000x7000 single-colour RGBA PNG (about 200 KB, 196 MB once decoded), as in the
report that found it. A separate process (`python -m bench.image_memory DIR`) builds the app
(SQLite, the local provider, workers not started) and hands `/imagine` with that reference to the
core as a door would (`core.dispatch` with an attachment). After one warm-up request with a small
reference, it reads its resident size (VmRSS from /proc/self/status) as idle, then the peak (VmHWM,
reset through /proc/self/clear_refs) of one such request, then of eight from eight users at once,
and its resident size once they are answered.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

from bench.common import Figure, bench_settings
from bot.app import build
from core.messages import Attachment, ChatRef, Incoming, Stage, UserRef

EDGE = 7000
USERS = 8
ONE_TARGET_MB = 300
MANY_TARGET_MB = 400
AFTER_TARGET_MB = 50
TIMEOUT_S = 300
ROOT = Path(__file__).resolve().parent.parent


async def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        reference_kb = await asyncio.to_thread(_write_reference, Path(tmp))
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("IMAGE2BOT_", "OPENAI_"))
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.image_memory",
            tmp,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(TIMEOUT_S):
            out, _ = await child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"the measuring process exited with {child.returncode}")
        figures = json.loads(out)
        figures["reference_kb"] = reference_kb
    one, many, after = figures["one_peak_mb"], figures["many_peak_mb"], figures["many_after_mb"]
    return [
        Figure(
            key="image_memory_one",
            title="8. Image memory: one 49 MP PNG reference, peak RSS over idle",
            value=f"+{one:.0f} MB",
            target=f"< +{ONE_TARGET_MB} MB",
            met=one < ONE_TARGET_MB,
            details=figures,
        ),
        Figure(
            key="image_memory_many",
            title=f"8. Image memory: {USERS} at once, peak RSS over idle",
            value=f"+{many:.0f} MB",
            target=f"< +{MANY_TARGET_MB} MB",
            met=many < MANY_TARGET_MB,
        ),
        Figure(
            key="image_memory_after",
            title=f"8. Image memory: RSS over idle once the {USERS} are answered",
            value=f"{after:+.0f} MB",
            target=f"< +{AFTER_TARGET_MB} MB",
            met=after < AFTER_TARGET_MB,
        ),
    ]


def _write_reference(folder: Path) -> float:
    """Writes the reference where the measuring process reads it; its size in KB."""
    data = _single_colour_png(EDGE, EDGE)
    (folder / "reference.png").write_bytes(data)
    return len(data) / 1024


def _single_colour_png(width: int, height: int) -> bytes:
    """An RGBA PNG of one colour, written row by row (Pillow would need the 196 MB picture first)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    first = b"\x00" + bytes((40, 120, 200, 255)) * width
    same_as_above = b"\x02" + bytes(4 * width)  # filter "Up": every byte equals the one above
    parts = [compressor.compress(first)]
    parts += [compressor.compress(same_as_above) for _ in range(height - 1)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


# --- the measuring process ---------------------------------------------------------------------


async def _measure(data_dir: Path) -> dict[str, Any]:
    reference = (data_dir / "reference.png").read_bytes()
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(small, format="PNG")
    settings = bench_settings(
        data_dir,
        generation={"provider": "local", "provider_images_per_minute": 0},
        privacy={"require_acceptance": False},
    )
    app = build(settings)
    await app.prepare()

    async def imagine(user: str, picture: bytes) -> None:
        async def fetch() -> bytes:
            return picture

        attachment = Attachment(name="reference.png", fetch=fetch, size=len(picture))
        incoming = Incoming(
            UserRef("bench", user), ChatRef("bench", "private", user), "/imagine like this", (attachment,)
        )
        replies = await app.core.dispatch(incoming)
        if replies[0].stage != Stage.QUEUED:
            raise RuntimeError(f"not queued: {replies[0].text}")

    try:
        await imagine("warm-up", small.getvalue())
        idle = _settled_rss_mb()
        _reset_peak()
        await imagine("one", reference)
        one_peak = _peak_mb()
        _reset_peak()
        start = time.perf_counter()
        await asyncio.gather(*(imagine(f"user-{user}", reference) for user in range(USERS)))
        many_seconds = time.perf_counter() - start
        many_peak = _peak_mb()
        after = _settled_rss_mb()
    finally:
        await app.close()
    return {
        "idle_mb": idle,
        "one_peak_mb": one_peak - idle,
        "many_peak_mb": many_peak - idle,
        "many_after_mb": after - idle,
        "many_seconds": many_seconds,
        "max_concurrent_decodes": settings.generation.max_concurrent_decodes,
    }


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _settled_rss_mb() -> float:
    gc.collect()
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    return _status_mb("VmHWM")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(_measure(Path(sys.argv[1])))))
