"""A local double of the OpenAI Images + Moderations HTTP API, driven by the real SDK over 127.0.0.1.

It speaks the wire protocol (JSON, multipart, server-sent events), records every request and can be
scripted to fail, block, hang or break its stream, one images request per queued behaviour.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web
from PIL import Image

# The moderation categories the SDK's `Moderation` model expects.
_CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]


@dataclass
class RecordedRequest:
    path: str  # e.g. "/v1/images/generations"
    fields: dict[str, Any]  # JSON body, or the non-file multipart fields (values as str)
    files: list[tuple[str, str, bytes]]  # (field name e.g. "image[]", filename, content) for multipart
    headers: dict[str, str]


@dataclass
class _Behaviour:
    kind: str  # fail | block | stream_error | truncate_stream | malformed | hang
    status: int = 200
    code: str | None = None
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    payload: str = ""


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    """A real PNG of the given size (solid colour, so it is small and fast to encode)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _error(
    status: int,
    message: str,
    *,
    code: str | None,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    default_type = (
        "server_error" if status >= 500 else "requests" if status == 429 else "invalid_request_error"
    )
    error_type = type_ or default_type
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _usage() -> dict[str, Any]:
    return {
        "input_tokens": 50,
        "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
        "output_tokens": 1000,
        "total_tokens": 1050,
    }


class OpenAIImagesDouble:
    """In-process OpenAI Images + Moderations server on 127.0.0.1, port chosen by the OS."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.flag_prompts: set[str] = set()
        self._queue: deque[_Behaviour] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/images/edits", self._images)
        app.router.add_post("/v1/moderations", self._moderations)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def close(self) -> None:
        self._closing.set()  # wakes hanging handlers so shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scripting -------------------------------------------------------------------------------
    def fail(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str = "error",
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._push(
            times, _Behaviour("fail", status=status, code=code, message=message, headers=headers or {})
        )

    def block(self, times: int = 1) -> None:
        self._push(times, _Behaviour("block"))

    def stream_error(self, times: int = 1) -> None:
        self._push(times, _Behaviour("stream_error"))

    def truncate_stream(self, times: int = 1) -> None:
        self._push(times, _Behaviour("truncate_stream"))

    def malformed(self, times: int = 1, *, payload: str | None = None) -> None:
        """Answer 200 whose b64_json is `payload` (default: valid base64 of bytes that are no image)."""
        self._push(times, _Behaviour("malformed", payload=payload or _b64(b"this is not an image")))

    def hang(self, seconds: float, times: int = 1) -> None:
        self._push(times, _Behaviour("hang", seconds=seconds))

    def _push(self, times: int, behaviour: _Behaviour) -> None:
        self._queue.extend(behaviour for _ in range(times))

    # -- handlers --------------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> RecordedRequest:
        fields: dict[str, Any] = {}
        files: list[tuple[str, str, bytes]] = []
        if request.content_type == "multipart/form-data":
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files.append((name, value.filename, value.file.read()))
                else:
                    fields[name] = str(value)
        elif request.can_read_body:
            fields = await request.json()
        recorded = RecordedRequest(request.path, fields, files, dict(request.headers))
        self.requests.append(recorded)
        return recorded

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and bool(token.strip())

    async def _moderations(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if not self._authorized(request):
            return _error(401, "Missing bearer authentication.", code="invalid_api_key")
        inputs = recorded.fields.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(item) for item in inputs or []]
        results = []
        for text in texts:
            flagged = any(word in text for word in self.flag_prompts)
            results.append(
                {
                    "flagged": flagged,
                    "categories": {name: flagged and name == "violence" for name in _CATEGORIES},
                    "category_scores": {
                        name: 0.97 if flagged and name == "violence" else 0.001 for name in _CATEGORIES
                    },
                    "category_applied_input_types": {name: ["text"] for name in _CATEGORIES},
                }
            )
        model = recorded.fields.get("model", "omni-moderation-latest")
        return web.json_response({"id": f"modr-{len(self.requests)}", "model": model, "results": results})

    async def _images(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if not self._authorized(request):
            return _error(401, "Missing bearer authentication.", code="invalid_api_key")
        fields = recorded.fields
        edit = request.path.endswith("/edits")
        if not fields.get("prompt"):
            return _error(400, "Missing required parameter: 'prompt'.", code="missing_required_parameter")
        if edit and not recorded.files:
            return _error(400, "Missing required parameter: 'image'.", code="missing_required_parameter")
        size = str(fields.get("size") or "auto")
        width, _, height = ("1024x1024" if size == "auto" else size).partition("x")
        if not (width.isdigit() and height.isdigit()):
            return _error(400, f"Invalid value: '{size}'.", code="invalid_value")
        n = int(fields.get("n") or 1)
        partials = int(fields.get("partial_images") or 0)
        stream = fields.get("stream") in (True, "true")
        behaviour = self._queue.popleft() if self._queue else None

        if behaviour is not None and behaviour.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), behaviour.seconds)
            behaviour = None
        if behaviour is not None and behaviour.kind == "fail":
            return _error(behaviour.status, behaviour.message, code=behaviour.code, headers=behaviour.headers)
        if behaviour is not None and behaviour.kind == "block":
            return _error(
                400,
                "Your request was rejected by the safety system.",
                code="moderation_blocked",
                type_="image_generation_user_error",
            )
        if behaviour is not None and not stream and behaviour.kind in ("stream_error", "truncate_stream"):
            return _error(
                400, f"double: {behaviour.kind} scripted for a non-streaming request", code="double"
            )

        malformed = behaviour.payload if behaviour is not None and behaviour.kind == "malformed" else None
        quality = str(fields.get("quality") or "auto")
        common = {"background": "opaque", "output_format": "png", "size": f"{width}x{height}"}
        colors = [((40 * i + 30) % 256, 120, 90) for i in range(n)]
        images = [malformed or _b64(png_bytes(int(width), int(height), colors[i])) for i in range(n)]
        if not stream:
            return web.json_response(
                {
                    "created": int(time.time()),
                    **common,
                    "quality": "medium" if quality == "auto" else quality,
                    "data": [{"b64_json": image} for image in images],
                    "usage": {**_usage(), "output_tokens_details": {"image_tokens": 1000, "text_tokens": 0}},
                }
            )

        prefix = "image_edit" if edit else "image_generation"
        event_fields = {**common, "quality": quality, "created_at": int(time.time())}
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for index in range(partials):
            partial = _b64(png_bytes(64, 64, (index * 60 % 255, 80, 80)))
            await self._send(
                response,
                f"{prefix}.partial_image",
                {**event_fields, "b64_json": partial, "partial_image_index": index},
            )
            if behaviour is not None and behaviour.kind == "stream_error":
                break
        if behaviour is not None and behaviour.kind == "stream_error":
            error = {
                "type": "server_error",
                "code": "server_error",
                "param": None,
                "message": "The server had an error while processing your request.",
            }
            await self._send(response, "error", {"type": "error", "error": error})
        elif behaviour is None or behaviour.kind == "malformed":
            completed = {**event_fields, "b64_json": images[0], "usage": _usage()}
            if fields.get("safety_identifier"):
                completed["safety_identifier"] = fields["safety_identifier"]
            await self._send(response, f"{prefix}.completed", completed)
        await response.write_eof()
        return response

    @staticmethod
    async def _send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
        await response.write(f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode())


@pytest_asyncio.fixture
async def openai_double() -> AsyncIterator[OpenAIImagesDouble]:
    """A started double, closed after the test."""
    double = OpenAIImagesDouble()
    await double.start()
    try:
        yield double
    finally:
        await double.close()
