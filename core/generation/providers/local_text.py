"""The offline renderer's caption band: the prompt in a font that has Chinese glyphs, and its label.

Everything written on a picture lives in the band at the bottom; the picture above it carries no text,
so an action that reworks a picture (vary) can take that part and write a fresh band under it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

LABEL = "offline preview renderer"
BAND = 0.18  # the caption band's share of the height
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]


def font_path() -> Path | None:
    """Noto Sans SC (Latin and CJK), installed with the project; None when the package is missing."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = pylopdf_fonts_zh_cn.sans_path()
    return path if path.is_file() else None


@lru_cache(maxsize=32)
def font(size: int) -> Font:
    """The caption font at `size` px, loaded on first use; Pillow's own font (no CJK) if it is missing."""
    path = font_path()
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            log.warning("the caption font %s cannot be read; captions fall back to the default font", path)
    else:
        log.warning("the caption font package is not installed; captions fall back to the default font")
    return ImageFont.load_default(size=size)


def band_height(height: int) -> int:
    return max(12, int(height * BAND))


def _longest_fitting_prefix(text: str, fits: Callable[[str], bool]) -> int:
    """Length of the longest prefix of `text` that fits (at least 1), by binary search."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(text[:middle]) else (low, middle - 1)
    return low


def wrap(text: str, chosen: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap by measured width; over-long words (and text without spaces, as Chinese is
    written) are cut where they stop fitting; overflow ends in an ellipsis."""
    measure = ImageDraw.Draw(Image.new("L", (1, 1))).textlength

    def fits(candidate: str) -> bool:
        return measure(candidate, font=chosen) <= max_width

    lines: list[str] = []
    line = ""
    for word in text.split():
        if len(lines) > max_lines:  # the rest will not be shown anyway
            break
        while len(word) > 1 and not fits(word):  # hard-break a very long word
            if line:
                lines.append(line)
                line = ""
            cut = _longest_fitting_prefix(word, fits)
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{line} {word}".strip()
        if line and not fits(candidate):
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        last = last[: _longest_fitting_prefix(last, lambda prefix: fits(prefix + "..."))]
        lines = [*lines[: max_lines - 1], last.rstrip(". ") + "..."]
    return lines or [""]


def caption_layout(width: int, height: int) -> tuple[int, int, int]:
    """(margin, text size, label size) of the band for a picture of this size."""
    band_h = band_height(height)
    margin = max(2, min(width, height) // 40)
    text_size = max(6, min(band_h // 4, width // 24))
    label_size = max(6, text_size * 3 // 5)
    return margin, text_size, label_size


def annotate(canvas: Image.Image, caption: str, accent: RGB) -> None:
    """Draws the band over the bottom of an RGB canvas: the wrapped caption, then the label."""
    width, height = canvas.size
    band_h = band_height(height)
    top = height - band_h
    canvas.paste((8, 10, 16), (0, top, width, height), Image.new("L", (width, band_h), 185))
    draw = ImageDraw.Draw(canvas)
    margin, text_size, label_size = caption_layout(width, height)
    line_h = int(text_size * 1.3)
    room = band_h - 2 * margin - int(label_size * 1.3)
    lines = wrap(caption, font(text_size), width - 2 * margin, max(1, room // line_h))
    y = top + margin
    for line in lines:
        draw.text((margin, y), line, font=font(text_size), fill=(245, 245, 245))
        y += line_h
    label_font = font(label_size)
    tint = tuple((c + 255) // 2 for c in accent)  # the style's accent, light enough to read on the band
    label_w = draw.textlength(LABEL, font=label_font)
    draw.text(
        (width - margin - label_w, height - margin),
        LABEL,
        font=label_font,
        fill=tint,
        anchor="ls",
    )
