from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from PIL import Image, ImageStat

from core.generation.providers import local
from core.generation.providers.base import ImageProvider, PermanentProviderError, RenderRequest
from core.generation.providers.local import LocalProvider


def _request(**overrides: object) -> RenderRequest:
    fields: dict[str, object] = {
        "prompt": "a lighthouse on a cliff at dusk, waves crashing below",
        "width": 320,
        "height": 192,
        "model": "local",
        "style": "photo",
    }
    fields.update(overrides)
    return RenderRequest(**fields)  # type: ignore[arg-type]


async def _no_partials(index: int, data: bytes) -> None:
    raise AssertionError("no partial previews were requested")


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


def test_is_an_image_provider() -> None:
    provider: ImageProvider = LocalProvider()
    assert provider.name == "local"


async def test_check_prompt_always_allows() -> None:
    assert await LocalProvider().check_prompt("anything at all", "hash") is True


@pytest.mark.parametrize(
    ("width", "height"), [(1024, 1024), (1360, 768), (768, 1360), (3840, 2160), (1, 1), (17, 5)]
)
async def test_exact_size(width: int, height: int) -> None:
    result = await LocalProvider().render(_request(width=width, height=height), _no_partials)
    assert len(result.images) == 1
    assert _open(result.images[0]).size == (width, height)


async def test_same_request_same_bytes() -> None:
    provider = LocalProvider()
    request = _request(partial_images=1)
    previews: list[bytes] = []

    async def keep(index: int, data: bytes) -> None:
        previews.append(data)

    first = await provider.render(request, keep)
    second = await provider.render(request, keep)
    assert first.images == second.images
    assert previews[0] == previews[1]


async def test_different_prompts_differ() -> None:
    provider = LocalProvider()
    a = await provider.render(_request(prompt="a red fox in the snow"), _no_partials)
    b = await provider.render(_request(prompt="a blue whale in the deep"), _no_partials)
    assert a.images != b.images


@pytest.mark.parametrize(
    "style", ["photo", "anime", "cinema", "illustration", "3d", "watercolor", "pixel", "none"]
)
async def test_every_style_renders_and_styles_differ(style: str) -> None:
    provider = LocalProvider()
    styled = await provider.render(_request(style=style), _no_partials)
    other = await provider.render(
        _request(style="watercolor" if style != "watercolor" else "pixel"), _no_partials
    )
    assert _open(styled.images[0]).size == (320, 192)
    assert styled.images != other.images


async def test_unknown_style_falls_back_to_a_palette() -> None:
    assert local.palette_for("steampunk") in local.PALETTES.values()
    result = await LocalProvider().render(_request(style="steampunk"), _no_partials)
    assert _open(result.images[0]).size == (320, 192)


async def test_two_images_are_different_pictures() -> None:
    result = await LocalProvider().render(_request(n=2), _no_partials)
    assert len(result.images) == 2
    assert result.images[0] != result.images[1]
    assert all(_open(data).size == (320, 192) for data in result.images)


async def test_partials_come_in_order_before_the_result() -> None:
    previews: list[tuple[int, bytes]] = []
    returned = False

    async def on_partial(index: int, data: bytes) -> None:
        assert not returned
        assert _open(data).size == (320, 192)
        previews.append((index, data))

    result = await LocalProvider().render(_request(partial_images=2), on_partial)
    returned = True
    assert [index for index, _ in previews] == [0, 1]
    assert len(result.images) == 1
    # Each preview is a different, coarser version of the final picture, not the picture itself.
    assert previews[0][1] != previews[1][1]
    assert result.images[0] not in {data for _, data in previews}


async def test_reference_changes_the_output() -> None:
    provider = LocalProvider()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(buffer, format="PNG")
    plain = await provider.render(_request(), _no_partials)
    edited = await provider.render(_request(references=(buffer.getvalue(),)), _no_partials)
    assert plain.images != edited.images
    assert _open(edited.images[0]).size == (320, 192)
    # The red reference shows through the drawing.
    plain_red = ImageStat.Stat(_open(plain.images[0]).convert("RGB")).mean[0]
    edited_red = ImageStat.Stat(_open(edited.images[0]).convert("RGB")).mean[0]
    assert edited_red > plain_red + 40


async def test_unreadable_reference_is_a_permanent_error() -> None:
    with pytest.raises(PermanentProviderError):
        await LocalProvider().render(_request(references=(b"not a png",)), _no_partials)


async def test_bad_request_is_a_permanent_error() -> None:
    with pytest.raises(PermanentProviderError):
        await LocalProvider().render(_request(width=0), _no_partials)


async def test_long_and_unusual_prompts_render() -> None:
    prompt = "supercalifragilistic" * 40 + " 东京的夜景 " + "word " * 300
    result = await LocalProvider().render(_request(prompt=prompt, width=96, height=64), _no_partials)
    assert _open(result.images[0]).size == (96, 64)


async def test_step_delay_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(local.asyncio, "sleep", fake_sleep)

    async def on_partial(index: int, data: bytes) -> None:
        return None

    await LocalProvider(step_delay_s=0.25).render(_request(partial_images=2), on_partial)
    assert delays == [0.25, 0.25, 0.25]


async def test_event_loop_stays_responsive_during_a_4k_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the 4k picture is being painted, a task on the event loop keeps ticking.

    The painting function is wrapped so that, after the real work, it waits (in its own thread)
    until the loop has ticked again. Were the work done on the event loop thread, the loop could
    not tick and the wait would give up; no wall-clock duration is asserted.
    """
    ticks = 0
    stop = asyncio.Event()
    seen: dict[str, object] = {}
    real_render_images = local.render_images

    def watched(request: RenderRequest) -> object:
        seen["on_loop_thread"] = threading.current_thread() is threading.main_thread()
        before = ticks
        result = real_render_images(request)
        seen["ticked_during_work"] = ticks > before
        deadline = time.monotonic() + 10
        while ticks == before and time.monotonic() < deadline:
            time.sleep(0.001)
        seen["ticked_eventually"] = ticks > before
        return result

    monkeypatch.setattr(local, "render_images", watched)

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    try:
        result = await LocalProvider().render(_request(width=3840, height=2160, style="cinema"), _no_partials)
    finally:
        stop.set()
        await ticking
    assert _open(result.images[0]).size == (3840, 2160)
    assert seen["on_loop_thread"] is False
    assert seen["ticked_eventually"] is True
    assert seen["ticked_during_work"] is True
