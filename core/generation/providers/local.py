"""An honest offline demo renderer: Pillow only, no network, no model.

It paints a deterministic abstract picture from the prompt (gradient sky, soft shapes, the prompt in a
caption band) and labels it as an offline preview so nobody mistakes it for a real generation. With
references, the first one becomes the background, which is how edit/upscale/vary look offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from collections.abc import Callable
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from core.generation.providers.base import OnPartial, PermanentProviderError, RenderRequest, RenderResult

LABEL = "offline preview renderer"

RGB = tuple[int, int, int]
Size = tuple[int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Each family: (sky top, sky bottom, three shape colours, accent).
PALETTES: dict[str, tuple[str, ...]] = {
    "photo": ("#4a6f8f", "#d9c7a7", "#2f4f3a", "#8a6e4b", "#f2e3c6", "#c96f3b"),
    "anime": ("#5ec8f2", "#ffe3f1", "#ff7eb6", "#7a5cff", "#fff4a3", "#ff4f79"),
    "cinema": ("#0d1b2a", "#e07a2f", "#1b263b", "#3a7ca5", "#f4a261", "#00b4d8"),
    "illustration": ("#ffcb77", "#fef9ef", "#17c3b2", "#227c9d", "#fe6d73", "#ff9f1c"),
    "3d": ("#3a0ca3", "#4cc9f0", "#f72585", "#7209b7", "#4361ee", "#fefae0"),
    "watercolor": ("#a8dadc", "#f1faee", "#e9c46a", "#90be6d", "#f4a6a6", "#457b9d"),
    "pixel": ("#1d2b53", "#7e2553", "#ff004d", "#ffa300", "#00e436", "#29adff"),
    "none": ("#334155", "#cbd5e1", "#64748b", "#94a3b8", "#e2e8f0", "#f59e0b"),
}
# Per-family softness of the shapes, as a fraction of the short edge.
BLUR = {"anime": 0.004, "pixel": 0.0, "watercolor": 0.05, "3d": 0.012}
DEFAULT_BLUR = 0.02
PIXEL_BLOCK = 96  # pixel style: the picture is painted on a grid this many blocks across the short edge
WORK_SCALE = 4  # shapes are painted and blurred at 1/4 size, then scaled up (cheap at 4k)


def palette_for(style: str) -> tuple[str, ...]:
    """The style's palette family; unknown style names get one chosen by their hash."""
    if style in PALETTES:
        return PALETTES[style]
    families = sorted(PALETTES)
    pick = int.from_bytes(hashlib.sha256(style.encode()).digest()[:4], "big") % len(families)
    return PALETTES[families[pick]]


def _seed(request: RenderRequest, index: int) -> int:
    key = "\x1f".join((request.prompt, request.style, request.size, str(index)))
    return int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")


@lru_cache(maxsize=32)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _rgb(hex_colour: str) -> RGB:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def _jitter(colour: RGB, rng: random.Random, amount: int = 24) -> RGB:
    r, g, b = (min(255, max(0, c + rng.randint(-amount, amount))) for c in colour)
    return r, g, b


def _background(size: Size, top: RGB, bottom: RGB) -> Image.Image:
    mask = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _shapes(size: Size, colours: list[RGB], rng: random.Random, blur: float) -> Image.Image:
    """A transparent layer of soft circles, a sun and a horizon, painted small and scaled up."""
    width, height = size
    small = (max(1, width // WORK_SCALE), max(1, height // WORK_SCALE))
    sw, sh = small
    layer = Image.new("RGBA", small, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    short = min(sw, sh)
    for _ in range(rng.randint(4, 7)):
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh * 0.8)
        radius = rng.uniform(0.08, 0.3) * short
        colour = (*_jitter(rng.choice(colours), rng), rng.randint(90, 170))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    sun_r = rng.uniform(0.07, 0.14) * short
    sx, sy = rng.uniform(0.15, 0.85) * sw, rng.uniform(0.12, 0.4) * sh
    draw.ellipse((sx - sun_r, sy - sun_r, sx + sun_r, sy + sun_r), fill=(*colours[-1], 230))
    # A rolling horizon: a polygon through a few random heights.
    steps = 8
    points = [(i * sw / steps, sh * rng.uniform(0.55, 0.75)) for i in range(steps + 1)]
    draw.polygon([(0, sh), *points, (sw, sh)], fill=(*_jitter(colours[0], rng, 16), 210))
    if blur > 0:
        layer = layer.filter(ImageFilter.GaussianBlur(max(0.5, blur * short)))
    return layer.resize(size, Image.Resampling.BILINEAR)


def _longest_fitting_prefix(text: str, fits: Callable[[str], bool]) -> int:
    """Length of the longest prefix of `text` that fits (at least 1), by binary search."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(text[:middle]) else (low, middle - 1)
    return low


def _wrap(text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap by measured width; over-long words are cut; overflow ends in an ellipsis."""
    measure = ImageDraw.Draw(Image.new("L", (1, 1))).textlength

    def fits(candidate: str) -> bool:
        return measure(candidate, font=font) <= max_width

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


def _annotate(canvas: Image.Image, prompt: str, accent: RGB) -> None:
    """The caption band with the wrapped prompt, and the offline label in the top-left corner."""
    width, height = canvas.size
    short = min(width, height)
    band_h = max(12, int(height * 0.18))
    band = Image.new("RGBA", (width, band_h), (8, 10, 16, 165))
    canvas.alpha_composite(band, dest=(0, height - band_h))
    draw = ImageDraw.Draw(canvas)
    margin = max(2, short // 40)
    text_size = max(6, min(band_h // 4, width // 24))
    max_lines = max(1, (band_h - 2 * margin) // int(text_size * 1.25))
    lines = _wrap(prompt, _font(text_size), width - 2 * margin, max_lines)
    y = height - band_h + margin
    for line in lines:
        draw.text((margin, y), line, font=_font(text_size), fill=(245, 245, 245, 255))
        y += int(text_size * 1.25)
    label_size = max(6, short // 45)
    label_font = _font(label_size)
    left, top, right, bottom = draw.textbbox((2 * margin, 2 * margin), LABEL, font=label_font)
    pad = max(1, label_size // 3)
    plate = (left - pad, top - pad, right + pad, bottom + pad)
    draw.rounded_rectangle(plate, radius=pad, fill=(0, 0, 0, 150))
    draw.text((2 * margin, 2 * margin), LABEL, font=label_font, fill=(*accent, 255))


def paint(request: RenderRequest, index: int) -> Image.Image:
    """One deterministic RGB picture of exactly request.width x request.height."""
    size = (request.width, request.height)
    rng = random.Random(_seed(request, index))
    colours = [_rgb(c) for c in palette_for(request.style)]
    if request.style not in PALETTES:
        rng.shuffle(colours)
    canvas = _background(size, _jitter(colours[0], rng), _jitter(colours[1], rng))
    if request.references:
        with Image.open(io.BytesIO(request.references[0])) as reference:
            photo = ImageOps.fit(reference.convert("RGB"), size, Image.Resampling.BICUBIC)
        canvas = Image.blend(photo, canvas, 0.3)
    shapes = _shapes(size, colours[2:], rng, BLUR.get(request.style, DEFAULT_BLUR))
    if request.references:  # keep the reference readable under the drawing
        shapes.putalpha(shapes.getchannel("A").point(lambda a: a // 2))
    canvas = canvas.convert("RGBA")
    canvas.alpha_composite(shapes)
    if request.style == "pixel":
        block = max(1, min(size) // PIXEL_BLOCK)
        small = canvas.resize((max(1, size[0] // block), max(1, size[1] // block)), Image.Resampling.BOX)
        canvas = small.resize(size, Image.Resampling.NEAREST)
    _annotate(canvas, request.prompt, colours[-1])
    return canvas.convert("RGB")


def to_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_images(request: RenderRequest) -> tuple[Image.Image, tuple[bytes, ...]]:
    """All the blocking work of one request: the first picture (for previews) and every PNG."""
    pictures = [paint(request, index) for index in range(request.n)]
    return pictures[0], tuple(to_png(picture) for picture in pictures)


def partial_png(final: Image.Image, divisor: int) -> bytes:
    """A coarse preview: the final picture shrunk by `divisor` and scaled back up, blocky on purpose."""
    shrunk = (max(1, final.width // divisor), max(1, final.height // divisor))
    small = final.resize(shrunk, Image.Resampling.BOX)
    return to_png(small.resize(final.size, Image.Resampling.NEAREST))


class LocalProvider:
    name = "local"

    def __init__(self, *, step_delay_s: float = 0.0) -> None:
        self._step_delay_s = step_delay_s

    async def check_prompt(self, prompt: str, safety_identifier: str) -> bool:
        return True

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        if request.width <= 0 or request.height <= 0 or request.n <= 0:
            raise PermanentProviderError(f"bad request: size {request.size}, n={request.n}")
        try:
            first, pngs = await asyncio.to_thread(render_images, request)
        except (OSError, Image.DecompressionBombError) as exc:  # an unreadable reference image
            raise PermanentProviderError(f"cannot read the reference image: {exc}") from exc
        count = max(0, request.partial_images)
        for i in range(count):
            await asyncio.sleep(self._step_delay_s)
            divisor = 2 ** min(6, count - i + 1)  # ..., 16, 8, 4: each preview sharper than the last
            await on_partial(i, await asyncio.to_thread(partial_png, first, divisor))
        await asyncio.sleep(self._step_delay_s)
        return RenderResult(images=pngs, usage={"renderer": self.name, "images": len(pngs)})

    async def close(self) -> None:
        return None
