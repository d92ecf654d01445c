"""A local double of the OpenAI Images + Moderations HTTP API, driven by the real SDK over 127.0.0.1.

It speaks the wire protocol (JSON, multipart, server-sent events), records every request (when it
arrived, and what the double did instead of a normal answer) and can be scripted to fail, block, hang,
drop the connection, garble or cut its answer, or break its stream: one images request per queued
behaviour, optionally only requests whose prompt contains a given text. `outage` takes the Images
endpoints down for a while, whatever is queued.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import io
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
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
    at: float = field(default_factory=time.monotonic)  # when it arrived (the double's clock)
    fault: str | None = None  # what the double did instead of a normal answer, e.g. "http 429", "hang"

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt") or "")


@dataclass
class _Behaviour:
    kind: str  # fail block stream_error truncate_stream malformed hang drip reset garble cut
    status: int = 200
    code: str | None = None
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    payload: str = ""
    prompt: str | None = None  # only for requests whose prompt contains this text


_STREAM_ONLY = ("stream_error", "truncate_stream", "drip")


@functools.lru_cache(maxsize=64)
def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    """A real PNG of the given size (solid colour, so it is small; remembered, as a megapixel still
    takes a while to encode and storms ask for the same few sizes again and again)."""
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


def _hang_up(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Closes the connection with no (further) answer; what is returned never reaches the client."""
    if request.transport is not None:  # None once the client hung up
        request.transport.close()
    return response if response is not None else web.Response(status=499)


async def _broken(request: web.Request, body: bytes, kind: str) -> web.StreamResponse:
    """`garble`: half the JSON, answered as if complete. `cut`: half of it, then the connection drops."""
    half = body[: len(body) // 2]
    if kind == "garble":
        return web.Response(body=half, content_type="application/json")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    await response.write(half)
    return _hang_up(request, response)


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
        self._outage_until = 0.0
        self._outage_status: int | None = None
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
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
        prompt: str | None = None,
    ) -> None:
        behaviour = _Behaviour("fail", status=status, code=code, message=message, headers=headers or {})
        self._push(times, behaviour, prompt)

    def block(self, times: int = 1, *, prompt: str | None = None) -> None:
        self._push(times, _Behaviour("block"), prompt)

    def stream_error(self, times: int = 1, *, prompt: str | None = None) -> None:
        self._push(times, _Behaviour("stream_error"), prompt)

    def truncate_stream(self, times: int = 1, *, prompt: str | None = None) -> None:
        """A stream that ends cleanly after its previews, without the completed image."""
        self._push(times, _Behaviour("truncate_stream"), prompt)

    def malformed(self, times: int = 1, *, payload: str | None = None, prompt: str | None = None) -> None:
        """Answer 200 whose b64_json is `payload` (default: valid base64 of bytes that are no image)."""
        behaviour = _Behaviour("malformed", payload=payload or _b64(b"this is not an image"))
        self._push(times, behaviour, prompt)

    def hang(self, seconds: float, times: int = 1, *, prompt: str | None = None) -> None:
        self._push(times, _Behaviour("hang", seconds=seconds), prompt)

    def drip(self, every_s: float = 0.05, times: int = 1, *, prompt: str | None = None) -> None:
        """A stream that sends a preview every `every_s` and never completes: it never goes quiet
        long enough for a read timeout, so only a deadline on the whole generation ends it."""
        self._push(times, _Behaviour("drip", seconds=every_s), prompt)

    def reset(self, times: int = 1, *, prompt: str | None = None) -> None:
        """Close the connection without answering, as a reset or a dying proxy does."""
        self._push(times, _Behaviour("reset"), prompt)

    def garble(self, times: int = 1, *, prompt: str | None = None) -> None:
        """Answer 200 with JSON that does not parse (streamed: a completed event whose data does not)."""
        self._push(times, _Behaviour("garble"), prompt)

    def cut(self, times: int = 1, *, prompt: str | None = None) -> None:
        """Send half of the answer (streamed: the previews and half the completed event), then hang up."""
        self._push(times, _Behaviour("cut"), prompt)

    def outage(self, seconds: float, *, status: int | None = 503) -> None:
        """From now on for `seconds`, every images request is answered `status` (None: the connection
        is dropped). Queued behaviours wait for the requests after the outage. `outage(0)` ends it."""
        self._outage_until = time.monotonic() + seconds
        self._outage_status = status

    async def wait_until(self, condition: Callable[[], bool], limit_s: float = 20.0) -> None:
        """Waits until `condition` holds, checking it as each request arrives."""
        async with asyncio.timeout(limit_s), self._arrived:
            await self._arrived.wait_for(condition)

    def _push(self, times: int, behaviour: _Behaviour, prompt: str | None) -> None:
        self._queue.extend(replace(behaviour, prompt=prompt) for _ in range(times))

    def _take(self, prompt: str) -> _Behaviour | None:
        """The first queued behaviour meant for a request with this prompt."""
        for behaviour in self._queue:
            if behaviour.prompt is None or behaviour.prompt in prompt:
                self._queue.remove(behaviour)
                return behaviour
        return None

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
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()
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
        if time.monotonic() < self._outage_until:
            recorded.fault = "outage"
            if self._outage_status is None:
                return _hang_up(request)
            return _error(self._outage_status, "The service is temporarily unavailable.", code=None)
        behaviour = self._take(recorded.prompt)
        if behaviour is not None:
            recorded.fault = f"http {behaviour.status}" if behaviour.kind == "fail" else behaviour.kind
        if behaviour is not None and behaviour.kind == "reset":
            return _hang_up(request)
        if behaviour is not None and behaviour.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), behaviour.seconds)
            if request.transport is None:  # the client gave up waiting: nobody to answer
                return web.Response(status=499)
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
        if behaviour is not None and not stream and behaviour.kind in _STREAM_ONLY:
            return _error(
                400, f"double: {behaviour.kind} scripted for a non-streaming request", code="double"
            )

        malformed = behaviour.payload if behaviour is not None and behaviour.kind == "malformed" else None
        quality = str(fields.get("quality") or "auto")
        common = {"background": "opaque", "output_format": "png", "size": f"{width}x{height}"}
        colors = [((40 * i + 30) % 256, 120, 90) for i in range(n)]
        images = [malformed or _b64(png_bytes(int(width), int(height), colors[i])) for i in range(n)]
        broken = behaviour.kind if behaviour is not None and behaviour.kind in ("garble", "cut") else None
        if not stream:
            body = {
                "created": int(time.time()),
                **common,
                "quality": "medium" if quality == "auto" else quality,
                "data": [{"b64_json": image} for image in images],
                "usage": {**_usage(), "output_tokens_details": {"image_tokens": 1000, "text_tokens": 0}},
            }
            if broken is not None:
                return await _broken(request, json.dumps(body).encode(), broken)
            return web.json_response(body)

        prefix = "image_edit" if edit else "image_generation"
        event_fields = {**common, "quality": quality, "created_at": int(time.time())}
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        if behaviour is not None and behaviour.kind == "drip":
            await self._drip(response, f"{prefix}.partial_image", event_fields, behaviour.seconds)
            return response
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
        elif broken is not None:
            completed = {**event_fields, "type": f"{prefix}.completed", "b64_json": images[0]}
            event = f"event: {prefix}.completed\ndata: {json.dumps(completed)}\n\n".encode()
            half = event[: len(event) // 2]
            if broken == "cut":
                await response.write(half)
                return _hang_up(request, response)
            await response.write(half + b"\n\n")
        elif behaviour is None or behaviour.kind == "malformed":
            completed = {**event_fields, "b64_json": images[0], "usage": _usage()}
            if fields.get("safety_identifier"):
                completed["safety_identifier"] = fields["safety_identifier"]
            await self._send(response, f"{prefix}.completed", completed)
        await response.write_eof()
        return response

    async def _drip(
        self, response: web.StreamResponse, event: str, fields: dict[str, Any], every_s: float
    ) -> None:
        """Previews until the client hangs up or the double closes."""
        preview = _b64(png_bytes(64, 64))
        index = 0
        with contextlib.suppress(ConnectionError):
            while not self._closing.is_set():
                partial = {**fields, "b64_json": preview, "partial_image_index": index}
                await self._send(response, event, partial)
                index = (index + 1) % 3
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), every_s)

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
