"""OpenAIProvider against the local OpenAI double, through the real SDK over HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from PIL import Image

from bot import tls
from core.generation.providers.base import (
    ContentBlocked,
    PermanentProviderError,
    ProviderError,
    RenderRequest,
    TransientProviderError,
)
from core.generation.providers.openai import OpenAIProvider
from tests.fakes import openai_images
from tests.fakes.openai_images import OpenAIImagesDouble, png_bytes

# The fixture, usable here whether or not tests/conftest.py imports it too.
openai_double = openai_images.openai_double

API_KEY = "sk-test-secret-key-123"
PROMPT = "a lighthouse on a cliff at dusk, watercolour"

ProviderFactory = Callable[..., OpenAIProvider]


@pytest_asyncio.fixture
async def make_provider(openai_double: OpenAIImagesDouble) -> AsyncIterator[ProviderFactory]:
    created: list[OpenAIProvider] = []

    def factory(
        *, moderation: bool = True, timeout_s: float = 5.0, base_url: str | None = None
    ) -> OpenAIProvider:
        provider = OpenAIProvider(
            api_key=API_KEY,
            base_url=base_url or openai_double.base_url,
            moderation=moderation,
            timeout_s=timeout_s,
            ssl_context=tls.httpx2_context(),  # shared, as bot/app.py does
        )
        created.append(provider)
        return provider

    yield factory
    for provider in created:
        await provider.close()


@pytest.fixture
def provider(make_provider: ProviderFactory) -> OpenAIProvider:
    return make_provider()


def _request(**overrides: object) -> RenderRequest:
    values: dict[str, object] = {
        "prompt": PROMPT,
        "width": 1536,
        "height": 864,
        "model": "gpt-image-2",
        "quality": "high",
        "safety_identifier": "acct-hash-42",
    }
    values.update(overrides)
    return RenderRequest(**values)  # type: ignore[arg-type]


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


async def _no_partials(index: int, data: bytes) -> None:
    raise AssertionError(f"unexpected partial {index}")


def _assert_clean(exc: ProviderError) -> None:
    assert PROMPT not in str(exc)
    assert API_KEY not in str(exc)


# -- success paths ---------------------------------------------------------------------------------


async def test_generate_sends_parameters_and_returns_png_of_requested_size(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    result = await provider.render(_request(), _no_partials)

    [sent] = openai_double.requests
    assert sent.path == "/v1/images/generations"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.fields["model"] == "gpt-image-2"
    assert sent.fields["prompt"] == PROMPT
    assert sent.fields["size"] == "1536x864"
    assert sent.fields["quality"] == "high"
    assert sent.fields["n"] == 1
    assert sent.fields["safety_identifier"] == "acct-hash-42"
    assert sent.fields["output_format"] == "png"
    assert "stream" not in sent.fields
    assert len(result.images) == 1
    assert _size(result.images[0]) == (1536, 864)
    assert result.usage["total_tokens"] == 1050


async def test_several_images_are_not_streamed(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    result = await provider.render(_request(width=1024, height=1536, n=2, partial_images=2), _no_partials)

    [sent] = openai_double.requests
    assert sent.fields["n"] == 2
    assert "stream" not in sent.fields
    assert [_size(image) for image in result.images] == [(1024, 1536), (1024, 1536)]
    assert result.images[0] != result.images[1]


async def test_streaming_forwards_partials_and_returns_completed_image(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    partials: list[tuple[int, bytes]] = []

    async def on_partial(index: int, data: bytes) -> None:
        partials.append((index, data))

    result = await provider.render(_request(partial_images=2), on_partial)

    [sent] = openai_double.requests
    assert sent.fields["stream"] is True
    assert sent.fields["partial_images"] == 2
    assert [index for index, _ in partials] == [0, 1]
    assert all(_size(data) == (64, 64) for _, data in partials)
    assert partials[0][1] != partials[1][1]
    assert len(result.images) == 1
    assert _size(result.images[0]) == (1536, 864)
    assert result.usage["output_tokens"] == 1000


async def test_edit_uploads_each_reference_as_an_image_part(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    references = (png_bytes(32, 32, (255, 0, 0)), png_bytes(48, 16, (0, 0, 255)))

    result = await provider.render(_request(references=references, width=1024, height=1024), _no_partials)

    [sent] = openai_double.requests
    assert sent.path == "/v1/images/edits"
    assert [name for name, _, _ in sent.files] == ["image[]", "image[]"]
    assert [filename for _, filename, _ in sent.files] == ["reference-1.png", "reference-2.png"]
    assert tuple(content for _, _, content in sent.files) == references
    assert sent.fields["prompt"] == PROMPT
    assert sent.fields["model"] == "gpt-image-2"
    assert sent.fields["size"] == "1024x1024"
    assert sent.fields["n"] == "1"
    assert sent.fields["safety_identifier"] == "acct-hash-42"
    assert _size(result.images[0]) == (1024, 1024)


async def test_streaming_edit_uses_edit_events(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    indexes: list[int] = []

    async def on_partial(index: int, data: bytes) -> None:
        indexes.append(index)

    result = await provider.render(_request(references=(png_bytes(8, 8),), partial_images=1), on_partial)

    [sent] = openai_double.requests
    assert sent.path == "/v1/images/edits"
    assert sent.fields["stream"] == "true"
    assert indexes == [0]
    assert _size(result.images[0]) == (1536, 864)


# -- moderation ------------------------------------------------------------------------------------


async def test_moderation_allows_a_clean_prompt(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts = {"gore"}

    assert await provider.check_prompt(PROMPT, "acct-hash-42") is True

    [sent] = openai_double.requests
    assert sent.path == "/v1/moderations"
    assert sent.fields == {"model": "omni-moderation-latest", "input": [PROMPT]}


async def test_prompts_checked_at_once_share_one_moderation_call_and_each_gets_its_own_verdict(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts = {"gore"}
    prompts = [f"{PROMPT}, take {take}" for take in range(40)] + ["lots of gore please"]

    verdicts = await asyncio.gather(*(provider.check_prompt(prompt, "acct-hash-42") for prompt in prompts))

    assert verdicts == [True] * 40 + [False]
    asked = [request.fields["input"] for request in openai_double.requests]
    assert sorted(prompt for inputs in asked for prompt in inputs) == sorted(prompts)
    assert len(asked) < len(prompts) / 4  # batched: 41 prompts in a few calls of up to 32
    assert max(len(inputs) for inputs in asked) <= 32


async def test_moderation_rejects_a_flagged_prompt(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts = {"gore"}

    assert await provider.check_prompt("lots of gore please", "acct-hash-42") is False


@pytest.mark.parametrize(
    ("fault", "said"), [("garble", "not valid JSON"), ("cut", "connection"), ("fail", "HTTP 500")]
)
async def test_a_broken_moderation_answer_is_transient(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble, fault: str, said: str
) -> None:
    openai_double.break_moderation(fault)

    with pytest.raises(TransientProviderError, match=said) as caught:
        await provider.check_prompt(PROMPT, "acct-hash-42")

    _assert_clean(caught.value)
    assert await provider.check_prompt(PROMPT, "acct-hash-42") is True  # the next answer is whole


async def test_moderation_off_makes_no_request(
    make_provider: ProviderFactory, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts = {"gore"}

    assert await make_provider(moderation=False).check_prompt("lots of gore please", "x") is True
    assert openai_double.requests == []


# -- failures --------------------------------------------------------------------------------------


async def test_safety_block_is_content_blocked(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.block()

    with pytest.raises(ContentBlocked) as caught:
        await provider.render(_request(), _no_partials)

    _assert_clean(caught.value)
    assert len(openai_double.requests) == 1


async def test_rate_limit_is_transient_with_retry_after(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(429, code="rate_limit_exceeded", headers={"retry-after": "7"})

    with pytest.raises(TransientProviderError) as caught:
        await provider.render(_request(), _no_partials)

    assert caught.value.retry_after == 7.0
    _assert_clean(caught.value)
    assert len(openai_double.requests) == 1  # the SDK would retry a 429 itself unless max_retries=0


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_transient_and_not_retried(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble, status: int
) -> None:
    openai_double.fail(status, code="server_error", times=3)

    with pytest.raises(TransientProviderError) as caught:
        await provider.render(_request(), _no_partials)

    assert caught.value.retry_after is None
    _assert_clean(caught.value)
    assert len(openai_double.requests) == 1


async def test_timeout_is_transient(
    make_provider: ProviderFactory, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.hang(5.0)
    provider = make_provider(timeout_s=0.3)
    started = time.monotonic()

    with pytest.raises(TransientProviderError):
        await provider.render(_request(), _no_partials)

    assert time.monotonic() - started < 2.0
    assert len(openai_double.requests) == 1


async def test_unreachable_service_is_transient(make_provider: ProviderFactory) -> None:
    closed = OpenAIImagesDouble()
    await closed.start()
    base_url = closed.base_url
    await closed.close()
    provider = make_provider(base_url=base_url)

    with pytest.raises(TransientProviderError):
        await provider.check_prompt(PROMPT, "x")
    with pytest.raises(TransientProviderError):
        await provider.render(_request(), _no_partials)


@pytest.mark.parametrize("script", ["stream_error", "truncate_stream"])
async def test_broken_streams_are_transient(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble, script: str
) -> None:
    getattr(openai_double, script)()
    partials: list[int] = []

    async def on_partial(index: int, data: bytes) -> None:
        partials.append(index)

    with pytest.raises(TransientProviderError) as caught:
        await provider.render(_request(partial_images=2), on_partial)

    assert partials[0] == 0  # the stream really started before it broke
    _assert_clean(caught.value)
    assert len(openai_double.requests) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalid_value"), (401, "invalid_api_key"), (403, None), (404, "model_not_found")],
)
async def test_client_errors_are_permanent(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble, status: int, code: str | None
) -> None:
    openai_double.fail(status, code=code, message="Something about the request is wrong.")

    with pytest.raises(PermanentProviderError) as caught:
        await provider.render(_request(), _no_partials)

    assert f"HTTP {status}" in str(caught.value)
    _assert_clean(caught.value)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("moderation_blocked", "Request blocked."),
        ("content_policy_violation", "Request blocked."),
        (None, "Your request was rejected as a result of our safety system."),
    ],
)
async def test_content_policy_rejections_are_content_blocked(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble, code: str | None, message: str
) -> None:
    openai_double.fail(400, code=code, message=message)

    with pytest.raises(ContentBlocked):
        await provider.render(_request(), _no_partials)


def _jpeg_b64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "payload",
    [None, "***not base64***", base64.b64encode(png_bytes(10, 10)).decode(), _jpeg_b64(1536, 864)],
    ids=["not-an-image", "not-base64", "wrong-size", "not-png"],
)
@pytest.mark.parametrize("partial_images", [0, 1])
async def test_malformed_image_is_permanent(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble, payload: str | None, partial_images: int
) -> None:
    openai_double.malformed(payload=payload)

    async def on_partial(index: int, data: bytes) -> None:
        pass

    with pytest.raises(PermanentProviderError):
        await provider.render(_request(partial_images=partial_images), on_partial)


async def test_queue_is_consumed_in_order(
    provider: OpenAIProvider, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.fail(500)
    openai_double.block()

    with pytest.raises(TransientProviderError):
        await provider.render(_request(), _no_partials)
    with pytest.raises(ContentBlocked):
        await provider.render(_request(), _no_partials)
    assert len((await provider.render(_request(), _no_partials)).images) == 1
