"""OpenAI Images provider (gpt-image models) on the official SDK.

The SDK is built with `max_retries=0`: the job worker is the one place that retries (it re-queues with
backoff), so this provider only classifies failures into the outcomes of `base.py`.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import io
import json
import logging
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import openai
from PIL import Image, UnidentifiedImageError

from core.batching import Batcher
from core.generation.providers.base import (
    ContentBlocked,
    OnPartial,
    PermanentProviderError,
    ProviderError,
    RenderRequest,
    RenderResult,
    TransientProviderError,
)

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger(__name__)

MODERATION_MODEL = "omni-moderation-latest"
MODERATION_BATCH = 32  # prompts in one moderation call, when requests arrive together
MODERATION_CALLS = 4  # moderation calls at once
_BLOCK_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
_BLOCK_HINTS = ("safety system", "content policy")
_PARTIAL_EVENTS = frozenset({"image_generation.partial_image", "image_edit.partial_image"})
_COMPLETED_EVENTS = frozenset({"image_generation.completed", "image_edit.completed"})


class OpenAIProvider:
    """`ImageProvider` for the OpenAI Images API: generate, edit with references, optional streaming."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        moderation: bool,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
        azure_api_version: str | None = None,
    ) -> None:
        """`ssl_context`: one the process shares (else the SDK builds its own, reading the CA bundle).
        `azure_api_version`: Azure OpenAI, at `base_url` (the resource's endpoint), through the SDK's
        Azure client; the model names are then the deployments' names."""
        self._moderation = moderation
        self._checks: Batcher[tuple[str, str], bool] = Batcher(
            self._check_prompts, max_size=MODERATION_BATCH, concurrency=MODERATION_CALLS
        )
        http_client = None
        if ssl_context is not None:  # the SDK's own default client, but for the context
            http_client = openai.DefaultAsyncHttpxClient(timeout=timeout_s, verify=ssl_context)
        self._client: openai.AsyncOpenAI
        if azure_api_version is not None:
            self._client = openai.AsyncAzureOpenAI(
                api_key=api_key,
                azure_endpoint=base_url,
                api_version=azure_api_version,
                max_retries=0,
                timeout=timeout_s,
                http_client=http_client,
            )
        else:
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s, http_client=http_client
            )

    async def check_prompt(self, prompt: str, safety_identifier: str) -> bool:
        if not self._moderation:
            return True
        return await self._checks((prompt, safety_identifier))

    async def _check_prompts(self, asked: Sequence[tuple[str, str]]) -> list[bool]:
        """One moderation call for the prompts that arrived together (the API takes a list)."""
        try:
            answer = await self._client.moderations.with_raw_response.create(
                model=MODERATION_MODEL, input=[prompt for prompt, _ in asked]
            )
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        flags = _flags(answer.content, len(asked))
        for (_, safety_identifier), flagged in zip(asked, flags, strict=True):
            if flagged:
                log.info("moderation flagged a prompt (safety id %s)", safety_identifier)
        return [not flagged for flagged in flags]

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        stream = request.partial_images > 0 and request.n == 1
        params: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "size": request.size,
            "quality": request.quality,
            "n": request.n,
            "safety_identifier": request.safety_identifier,
            "output_format": "png",
        }
        if stream:
            params.update(stream=True, partial_images=request.partial_images)
        log.debug(
            "openai render model=%s size=%s n=%d refs=%d stream=%s",
            request.model,
            request.size,
            request.n,
            len(request.references),
            stream,
        )
        try:
            if request.references:
                images = [
                    (f"reference-{i}.png", data, "image/png") for i, data in enumerate(request.references, 1)
                ]
                response = await self._client.images.edit(image=images, **params)
            else:
                response = await self._client.images.generate(**params)
            if stream:
                return await self._consume_stream(response, request, on_partial)
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        except json.JSONDecodeError as exc:  # the SDK parses bodies and stream events without wrapping this
            raise _garbled() from exc
        if isinstance(response, str):  # a 200 that is not JSON (a proxy's page): the SDK hands back its text
            raise TransientProviderError("OpenAI answered with a body that is not JSON", code="garbled")
        data = response.data or []
        if len(data) != request.n:
            raise PermanentProviderError(f"OpenAI returned {len(data)} images, expected {request.n}")
        images_out = tuple(_decode_image(item.b64_json, request) for item in data)
        return RenderResult(images=images_out, usage=_usage(response.usage))

    async def _consume_stream(
        self, stream: Any, request: RenderRequest, on_partial: OnPartial
    ) -> RenderResult:
        """Forward partial previews; the image comes from the completed event, which must arrive."""
        completed: Any = None
        async with stream:
            async for event in stream:
                kind = getattr(event, "type", None)
                if kind in _PARTIAL_EVENTS:
                    preview = _decode_partial(getattr(event, "b64_json", None))
                    if preview is not None:
                        await on_partial(int(event.partial_image_index), preview)
                elif kind in _COMPLETED_EVENTS:
                    completed = event
                elif kind == "error":  # an error event the SDK did not raise itself
                    raise TransientProviderError("OpenAI stream reported an error", code="stream_error")
        if completed is None:
            raise TransientProviderError("OpenAI stream ended without a completed image", code="stream_error")
        image = _decode_image(getattr(completed, "b64_json", None), request)
        return RenderResult(images=(image,), usage=_usage(getattr(completed, "usage", None)))

    async def close(self) -> None:
        await self._client.close()


def _map_error(exc: openai.APIError) -> ProviderError:
    """Classify an SDK error. Messages carry status, code and request id only: never prompt or key."""
    code = exc.code or ""
    if _is_content_block(exc):
        return ContentBlocked(f"OpenAI safety system refused the request ({code or 'content policy'})")
    if isinstance(exc, openai.APIStatusError):
        where = f"HTTP {exc.status_code} code={code or '-'} request_id={exc.request_id or '-'}"
        if isinstance(exc, openai.RateLimitError):
            return TransientProviderError(
                f"OpenAI rate limit: {where}", retry_after=_retry_after(exc.response), code="rate_limited"
            )
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return TransientProviderError(f"OpenAI server error: {where}", code="server_error")
        return PermanentProviderError(f"OpenAI rejected the request: {where}")
    if isinstance(exc, openai.APITimeoutError):
        return TransientProviderError("OpenAI request timed out", code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return TransientProviderError("OpenAI connection failed", code="connection_error")
    if isinstance(exc, openai.APIResponseValidationError):
        return PermanentProviderError("OpenAI returned a response that does not match its schema")
    # A plain APIError is what the SDK raises for an `error` event in the middle of a stream.
    return TransientProviderError(f"OpenAI stream failed: code={code or '-'}", code="stream_error")


def _flags(body: bytes, count: int) -> list[bool]:
    """Whether OpenAI flagged each of `count` inputs, read off the moderation's JSON: the SDK's typed
    model of every category and score costs more CPU than the rest of a request's checks."""
    try:
        flags = [item["flagged"] is True for item in json.loads(body)["results"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise _garbled() from exc
    if len(flags) != count:
        raise _garbled()
    return flags


def _garbled() -> TransientProviderError:
    """A body or stream event cut or garbled on the way: like a dropped connection, worth a retry."""
    return TransientProviderError("OpenAI returned a response that is not valid JSON", code="garbled")


def _is_content_block(exc: openai.APIError) -> bool:
    if exc.code in _BLOCK_CODES:
        return True
    if not isinstance(exc, openai.BadRequestError):
        return False
    message = exc.body.get("message") if isinstance(exc.body, dict) else None
    return isinstance(message, str) and any(hint in message.lower() for hint in _BLOCK_HINTS)


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds from a `retry-after` header (delta seconds or HTTP date), None when absent or unreadable."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _usage(usage: Any) -> dict[str, object]:
    return usage.to_dict(warnings=False) if usage is not None else {}


def _b64decode(b64: str | None) -> bytes:
    if not b64:
        raise PermanentProviderError("OpenAI returned an image without data")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentProviderError("OpenAI returned image data that is not base64") from exc


def _decode_image(b64: str | None, request: RenderRequest) -> bytes:
    """PNG bytes of a final image, checked to be a real PNG of exactly the requested size."""
    data = _b64decode(b64)
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, size = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PermanentProviderError("OpenAI returned data that is not a decodable image") from exc
    if fmt != "PNG":
        raise PermanentProviderError(f"OpenAI returned a {fmt} image, expected PNG")
    if size != (request.width, request.height):
        raise PermanentProviderError(
            f"OpenAI returned a {size[0]}x{size[1]} image, expected {request.width}x{request.height}"
        )
    return data


def _decode_partial(b64: str | None) -> bytes | None:
    """Previews are cosmetic: a broken one is skipped rather than failing the job."""
    try:
        return _b64decode(b64)
    except PermanentProviderError:
        log.warning("skipping an OpenAI partial image that is not valid base64")
        return None
