"""An honest offline demo renderer: Pillow only, no network, no model.

It paints a small deterministic scene from the prompt's words (core.generation.providers.local_scene) in
the style's palette and manner, writes the prompt in a caption band with a font that has Chinese glyphs,
and labels it as an offline preview so nobody mistakes it for a real generation. The job's seed makes a
reroll a new picture. Upscale resamples the parent image; vary reworks the picture above its caption and
writes a fresh caption, so a caption is never drawn over another one.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random

from PIL import Image, ImageChops, ImageFilter, ImageOps

from core.generation.providers.base import OnPartial, PermanentProviderError, RenderRequest, RenderResult
from core.generation.providers.local_scene import Scene, paint_scene
from core.generation.providers.local_text import LABEL, annotate, band_height

__all__ = ["LABEL", "LocalProvider", "paint", "palette_for", "render_images"]

RGB = tuple[int, int, int]
Size = tuple[int, int]

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
BLUR = {"anime": 0.0, "illustration": 0.0, "pixel": 0.0, "watercolor": 0.014, "3d": 0.006}
DEFAULT_BLUR = 0.008
OUTLINED = {"anime": (24, 20, 40), "illustration": (40, 30, 30)}  # line art, in this colour
VIGNETTE = {"cinema": 150, "photo": 70}  # how dark the corners get
PIXEL_BLOCK = 96  # pixel style: the picture is painted on a grid this many blocks across the short edge
WORK_SCALE = 4  # the scene is painted at 1/4 size, then scaled up (cheap at 4k)
UPSCALES = {"upscale-2k", "upscale-4k"}
VARY = "vary"


def palette_for(style: str) -> tuple[str, ...]:
    """The style's palette family; unknown style names get one chosen by their hash."""
    if style in PALETTES:
        return PALETTES[style]
    families = sorted(PALETTES)
    pick = int.from_bytes(hashlib.sha256(style.encode()).digest()[:4], "big") % len(families)
    return PALETTES[families[pick]]


def _seed(request: RenderRequest, index: int) -> int:
    key = "\x1f".join((request.prompt, request.style, request.size, str(request.seed), str(index)))
    return int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")


def _rgb(hex_colour: str) -> RGB:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def _jitter(colour: RGB, rng: random.Random, amount: int = 24) -> RGB:
    r, g, b = (min(255, max(0, c + rng.randint(-amount, amount))) for c in colour)
    return r, g, b


def _background(size: Size, top: RGB, bottom: RGB) -> Image.Image:
    mask = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _small(size: Size) -> Size:
    return max(1, size[0] // WORK_SCALE), max(1, size[1] // WORK_SCALE)


def _shadowed(layer: Image.Image) -> Image.Image:
    """3D style: every drawn thing casts a soft shadow down and to the right."""
    alpha = layer.getchannel("A")
    offset = max(1, min(layer.size) // 60)
    shadow = Image.new("RGBA", layer.size, (0, 0, 0, 0))
    shadow.putalpha(ImageChops.offset(alpha, offset, offset).point(lambda a: a // 2))
    shadow = shadow.filter(ImageFilter.GaussianBlur(offset))
    shadow.alpha_composite(layer)
    return shadow


def _vignette(canvas: Image.Image, strength: int) -> Image.Image:
    """Darker corners, `strength` percent of the way to black (none at 0)."""
    if strength <= 0:
        return canvas
    mask = Image.radial_gradient("L").resize(canvas.size, Image.Resampling.BILINEAR)
    mask = mask.point(lambda v: min(255, max(0, (v - 110) * strength // 100)))
    return Image.composite(Image.new(canvas.mode, canvas.size, 0), canvas, mask)


def _scene_layer(request: RenderRequest, small: Size, colours: list[RGB], rng: random.Random) -> Image.Image:
    """The scene on a transparent layer of the small working size."""
    layer = Image.new("RGBA", small, (0, 0, 0, 0))
    paint_scene(layer, Scene.of(request.caption or request.prompt), colours, rng, OUTLINED.get(request.style))
    blur = BLUR.get(request.style, DEFAULT_BLUR)
    if blur > 0:
        radius = max(0.5, blur * min(small))  # premultiplied: no dark fringes around what is drawn
        layer = layer.convert("RGBa").filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
    if request.style == "3d":
        layer = _shadowed(layer)
    return layer


def _paint_new(request: RenderRequest, rng: random.Random, colours: list[RGB]) -> Image.Image:
    """A new picture (or an edit of the user's own reference photo) with its caption band. Sky and
    scene are put together at the small working size and scaled up once; a reference photo is kept
    at full size so it stays sharp."""
    size = (request.width, request.height)
    small = _small(size)
    top, bottom = Scene.of(request.caption or request.prompt).sky(
        _jitter(colours[0], rng), _jitter(colours[1], rng)
    )
    sky = _background(small, top, bottom)
    layer = _scene_layer(request, small, colours[2:], rng)
    if request.references:
        with Image.open(io.BytesIO(request.references[0])) as reference:
            photo = ImageOps.fit(reference.convert("RGB"), size, Image.Resampling.BICUBIC)
        canvas = Image.blend(photo, sky.resize(size, Image.Resampling.BILINEAR), 0.3).convert("RGBA")
        layer.putalpha(layer.getchannel("A").point(lambda a: a // 2))  # the reference shows through
        canvas.alpha_composite(layer.resize(size, Image.Resampling.BILINEAR))
        canvas = _vignette(canvas.convert("RGB"), VIGNETTE.get(request.style, 0))
    else:
        composed = sky.convert("RGBA")
        composed.alpha_composite(layer)
        canvas = _vignette(composed.convert("RGB"), VIGNETTE.get(request.style, 0))
        canvas = canvas.resize(size, Image.Resampling.BILINEAR)
    if request.style == "pixel":
        block = max(1, min(size) // PIXEL_BLOCK)
        coarse = canvas.resize((max(1, size[0] // block), max(1, size[1] // block)), Image.Resampling.BOX)
        canvas = coarse.resize(size, Image.Resampling.NEAREST)
    annotate(canvas, request.caption or request.prompt, colours[-1])
    return canvas


def _grain(size: Size, rng: random.Random, amount: int) -> Image.Image:
    """Fine seeded noise of 0..2*amount, a small tile repeated (cheap at 4k)."""
    tile = Image.frombytes("L", (64, 64), rng.randbytes(64 * 64)).point(lambda v: v % (2 * amount + 1))
    grain = Image.new("L", size)
    for y in range(0, size[1], 64):
        for x in range(0, size[0], 64):
            grain.paste(tile, (x, y))
    return Image.merge("RGB", (grain, grain, grain))


def _upscale(parent: Image.Image, size: Size, rng: random.Random) -> Image.Image:
    """The parent picture, caption and all, resampled to the new size, with a seeded fine grain for
    detail (so a reroll is another picture); nothing is written on it."""
    amount = 3
    bigger = parent.resize(size, Image.Resampling.BICUBIC)
    return ImageChops.add(bigger, _grain(size, rng, amount), offset=-amount)


def _vary(request: RenderRequest, parent: Image.Image, rng: random.Random, colours: list[RGB]) -> Image.Image:
    """The parent's picture (above its caption band) zoomed and shifted a little, recoloured a little,
    with a few new soft shapes; then a fresh caption band."""
    size = (request.width, request.height)
    width, height = parent.size
    picture_h = max(1, height - band_height(height))
    zoom = rng.uniform(1.05, 1.15)
    window_w, window_h = width / zoom, picture_h / zoom
    left, top = rng.uniform(0, width - window_w), rng.uniform(0, picture_h - window_h)
    box = (left, top, left + window_w, top + window_h)
    canvas = parent.resize(size, Image.Resampling.BICUBIC, box=box)
    gains = [rng.uniform(0.88, 1.12) for _ in range(3)]
    canvas = canvas.point([min(255, int(v * gain)) for gain in gains for v in range(256)])
    blobs = Image.new("RGBA", _small(size), (0, 0, 0, 0))
    short = min(blobs.size)
    for _ in range(rng.randint(3, 5)):
        cx, cy = rng.uniform(0, blobs.width), rng.uniform(0, blobs.height * 0.8)
        r = rng.uniform(0.05, 0.15) * short
        blobs.paste(
            (*_jitter(rng.choice(colours[2:]), rng), 70), (int(cx - r), int(cy - r), int(cx + r), int(cy + r))
        )
    blobs = blobs.convert("RGBa").filter(ImageFilter.GaussianBlur(max(0.5, 0.06 * short))).convert("RGBA")
    canvas = canvas.convert("RGBA")
    canvas.alpha_composite(blobs.resize(size, Image.Resampling.BILINEAR))
    canvas = canvas.convert("RGB")
    annotate(canvas, request.caption or request.prompt, colours[-1])
    return canvas


def paint(request: RenderRequest, index: int) -> Image.Image:
    """One deterministic RGB picture of exactly request.width x request.height."""
    rng = random.Random(_seed(request, index))
    colours = [_rgb(c) for c in palette_for(request.style)]
    if request.style not in PALETTES:
        rng.shuffle(colours)
    if request.references and request.action in UPSCALES | {VARY}:
        with Image.open(io.BytesIO(request.references[0])) as reference:
            parent = reference.convert("RGB")
        if request.action == VARY:
            return _vary(request, parent, rng, colours)
        return _upscale(parent, (request.width, request.height), rng)
    return _paint_new(request, rng, colours)


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
