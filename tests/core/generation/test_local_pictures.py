"""What the offline renderer's pictures show: the caption in real Chinese glyphs, the label, a new picture
per reroll, upscale and vary made from the parent image, and scenes that follow the prompt and style."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from core.generation.providers import local_text
from core.generation.providers.base import RenderRequest
from core.generation.providers.local import LABEL, LocalProvider
from core.messages import ActionKind, ReplyType
from tests.harness import Harness

FOX = "雪地里的一只红狐狸"
NOT_IN_FONT = "\U0010fffd"  # a private-use character: the font draws its empty box (notdef) for it


def _request(**overrides: object) -> RenderRequest:
    fields: dict[str, object] = {
        "prompt": f"{FOX}. Photorealistic photograph, natural light, sharp focus, realistic textures.",
        "caption": FOX,
        "width": 512,
        "height": 512,
        "model": "local",
        "style": "photo",
        "seed": 41,
    }
    fields.update(overrides)
    return RenderRequest(**fields)  # type: ignore[arg-type]


async def _none(index: int, data: bytes) -> None:
    return None


async def _render(request: RenderRequest) -> bytes:
    return (await LocalProvider().render(request, _none)).images[0]


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Light pixels (text) in a region of the dark caption band, as a 0/255 mask."""
    return image.crop(box).convert("L").point(lambda v: 255 if v > 128 else 0)


def _expected(size: tuple[int, int], xy: tuple[float, float], text: str, px: int, anchor: str) -> Image.Image:
    """`text` as the caption font itself draws it, at the same place, as a 0/255 mask."""
    path = local_text.font_path()
    assert path is not None, "the caption font is installed with the project"
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).text(xy, text, font=ImageFont.truetype(str(path), px), fill=255, anchor=anchor)
    return mask.point(lambda v: 255 if v > 128 else 0)


def _overlap(a: Image.Image, b: Image.Image) -> float:
    """Intersection over union of two masks."""
    both = ImageStat.Stat(ImageChops.multiply(a, b)).sum[0]
    either = ImageStat.Stat(ImageChops.lighter(a, b)).sum[0]
    return both / either if either else 1.0


def _caption_masks(picture: Image.Image, text: str) -> tuple[Image.Image, Image.Image, Image.Image]:
    """(what the band shows, the font's glyphs for `text`, the font's empty boxes) on the first line."""
    width, height = picture.size
    margin, text_px, _ = local_text.caption_layout(width, height)
    top = height - local_text.band_height(height) + margin
    box = (0, top, width, top + int(text_px * 1.3))
    size = (box[2] - box[0], box[3] - box[1])
    shown = _ink(picture, box)
    glyphs = _expected(size, (margin, 0), text, text_px, "la")
    boxes = _expected(size, (margin, 0), NOT_IN_FONT * len(text), text_px, "la")
    return shown, glyphs, boxes


def _difference(a: Image.Image, b: Image.Image, size: tuple[int, int] = (32, 32)) -> float:
    """Mean per-channel difference of two pictures seen small (0..255)."""
    small_a, small_b = a.resize(size, Image.Resampling.BOX), b.resize(size, Image.Resampling.BOX)
    return sum(ImageStat.Stat(ImageChops.difference(small_a, small_b)).mean) / 3


async def test_a_chinese_caption_shows_its_characters_not_empty_boxes() -> None:
    picture = _open(await _render(_request()))
    shown, glyphs, boxes = _caption_masks(picture, FOX)
    assert _overlap(glyphs, boxes) < 0.3  # the font really has these glyphs: they are not its empty box
    assert _overlap(shown, glyphs) > 0.8
    assert _overlap(shown, boxes) < 0.3


async def test_the_picture_is_labelled_an_offline_preview() -> None:
    picture = _open(await _render(_request()))
    width, height = picture.size
    margin, _, label_px = local_text.caption_layout(width, height)
    box = (0, height - local_text.band_height(height), width, height)
    size = (box[2], box[3] - box[1])
    label_w = ImageDraw.Draw(Image.new("L", (1, 1))).textlength(LABEL, font=local_text.font(label_px))
    label = _expected(size, (width - margin - label_w, size[1] - margin), LABEL, label_px, "ls")
    shown = _ink(picture, box)
    # Every pixel of the label is there (the caption's own pixels are elsewhere in the band).
    assert ImageStat.Stat(ImageChops.multiply(shown, label)).sum[0] > 0.85 * ImageStat.Stat(label).sum[0]


async def test_a_reroll_is_another_picture_and_each_job_always_gets_the_same_one() -> None:
    original, again, reroll = [await _render(_request(seed=seed)) for seed in (41, 41, 42)]
    assert original == again
    assert reroll != original
    assert _difference(_open(original), _open(reroll)) > 3


async def test_upscale_resamples_the_parent_and_writes_nothing_over_it() -> None:
    parent = await _render(_request())
    upscaled = await _render(
        _request(width=1024, height=1024, action=ActionKind.UPSCALE_2K.value, references=(parent,), seed=50)
    )
    rerolled = await _render(
        _request(width=1024, height=1024, action=ActionKind.UPSCALE_2K.value, references=(parent,), seed=51)
    )
    big = _open(upscaled)
    assert big.size == (1024, 1024)
    back = big.resize((512, 512), Image.Resampling.BOX)
    assert _difference(back, _open(parent), (512, 512)) < 3  # the same picture, caption and all
    unrelated = _open(await _render(_request(caption="a blue whale in the deep sea", seed=50)))
    assert _difference(back, unrelated, (512, 512)) > 15
    assert rerolled != upscaled  # a reroll of an upscale is new fine detail, not the same file


async def test_vary_reworks_the_parent_with_one_fresh_caption() -> None:
    parent = await _render(_request())
    varied = _open(await _render(_request(action=ActionKind.VARY.value, references=(parent,), seed=60)))
    other = _open(await _render(_request(caption="a city skyline at night", style="cinema", seed=60)))
    assert _difference(varied, _open(parent)) > 2
    assert _difference(varied, _open(parent)) < _difference(other, _open(parent)) / 2
    shown, glyphs, boxes = _caption_masks(varied, FOX)
    assert _overlap(shown, glyphs) > 0.8  # the caption alone: no old caption or instruction under it
    assert _overlap(shown, boxes) < 0.3


def _share_near(picture: Image.Image, colour: tuple[int, int, int], tolerance: int = 60) -> float:
    """The share of the picture (above the caption band) within `tolerance` of `colour`."""
    above = picture.crop((0, 0, picture.width, picture.height - local_text.band_height(picture.height)))
    pixels = list(above.resize((128, 128), Image.Resampling.NEAREST).get_flattened_data())
    near = [p for p in pixels if sum(abs(a - b) for a, b in zip(p, colour, strict=True)) <= tolerance]
    return len(near) / len(pixels)


async def test_the_prompts_words_show_in_the_picture() -> None:
    red = _open(await _render(_request(caption=FOX, style="none")))
    blue = _open(await _render(_request(caption="雪地里的一只蓝狐狸", style="none")))
    city = _open(await _render(_request(caption="a city at night", style="none")))
    assert _share_near(red, (214, 58, 38)) > 0.01  # a red fox
    assert _share_near(blue, (214, 58, 38)) < 0.002
    assert _share_near(blue, (52, 110, 210)) > 0.01  # a blue one
    assert _share_near(red, (236, 240, 246), 30) > 0.1  # on snow
    assert _share_near(city, (236, 240, 246), 30) < 0.05
    assert _difference(red, city) > 25  # night over a city does not look like a snowfield


async def test_styles_look_different_for_the_same_words() -> None:
    pictures = {style: _open(await _render(_request(style=style))) for style in ("photo", "pixel", "anime")}
    assert _difference(pictures["photo"], pictures["pixel"]) > 10
    assert _difference(pictures["photo"], pictures["anime"]) > 10
    assert _difference(pictures["pixel"], pictures["anime"]) > 10


async def test_a_reroll_button_brings_a_different_file(harness: Harness) -> None:
    job = await harness.imagine(FOX)
    await harness.chat.wait_final(job)
    [reply] = await harness.press(job, ActionKind.REROLL)
    assert reply.job is not None
    assert reply.job != job
    await harness.chat.wait_final(reply.job)
    files = []
    for job_id in (job, reply.job):
        [image] = [r for r in harness.chat.for_job(job_id) if r.type == ReplyType.IMAGE]
        assert image.media is not None
        files.append(await harness.app.storage.read(image.media))
    assert files[0] != files[1]
    assert (await harness.balance()).total == 40 - 2 * 10  # both charged: each is a picture of its own


async def test_an_upscale_button_brings_the_same_picture_bigger(harness: Harness) -> None:
    job = await harness.imagine(FOX)
    await harness.chat.wait_final(job)
    [reply] = await harness.press(job, ActionKind.UPSCALE_2K)
    assert reply.job is not None
    await harness.chat.wait_final(reply.job)
    pictures = []
    for job_id in (job, reply.job):
        [image] = [r for r in harness.chat.for_job(job_id) if r.type == ReplyType.IMAGE]
        assert image.media is not None
        pictures.append(Image.open(io.BytesIO(await harness.app.storage.read(image.media))).convert("RGB"))
    original, upscaled = pictures
    assert upscaled.width > original.width
    back = upscaled.resize(original.size, Image.Resampling.BOX)
    assert _difference(back, original, original.size) < 3


async def test_without_the_caption_font_the_default_one_is_used_and_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(local_text, "font_path", lambda: None)
    local_text.font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=local_text.__name__):
            picture = _open(await _render(_request(width=96, height=64)))
    finally:
        local_text.font.cache_clear()
    assert picture.size == (96, 64)
    assert "default font" in caplog.text
