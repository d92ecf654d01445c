"""The OpenAI double held to OpenAI's own OpenAPI description, both ways: what the real SDK sends it and
what it answers validate, and a request or an answer that drifts from the description is caught."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio
from aiohttp import web

from bot import tls
from tests.fakes import openai_images, openapi_schema
from tests.fakes.openai_images import OpenAIImagesDouble, png_bytes
from tests.fakes.openapi_schema import Upload

API_KEY = "sk-test-schema"
PROMPT = "a lighthouse on a cliff at dusk"
GENERATIONS = "/images/generations"
EDITS = "/images/edits"


@pytest_asyncio.fixture
async def client(openai_double: OpenAIImagesDouble) -> AsyncIterator[openai.AsyncOpenAI]:
    http = openai.DefaultAsyncHttpxClient(verify=tls.httpx2_context())  # shared, as bot/app.py does
    sdk = openai.AsyncOpenAI(
        api_key=API_KEY, base_url=openai_double.base_url, max_retries=0, timeout=10, http_client=http
    )
    yield sdk
    await sdk.close()


def _messages(errors: list[Any]) -> list[str]:
    return [openapi_schema.describe(error) for error in errors]


# -- requests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"model": "gpt-image-2", "size": "1536x864", "quality": "high"}, "1536x864"),
        ({"model": "gpt-image-2", "size": "auto"}, "1024x1024"),
        ({"model": "gpt-image-2", "size": "336x1008"}, "336x1008"),  # 1:3, the narrowest allowed
        ({"model": "gpt-image-1", "size": "1024x1536", "n": None}, "1024x1536"),  # `nullable` n
    ],
)
async def test_valid_generation_requests_are_served(
    client: openai.AsyncOpenAI, openai_double: OpenAIImagesDouble, params: dict[str, Any], expected: str
) -> None:
    answer = await client.images.generate(prompt=PROMPT, safety_identifier="acct-1", **params)

    assert answer.size == expected
    assert answer.safety_identifier == "acct-1"
    assert openai_double.violations == []


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"size": "banana"}, "invalid_value", "size"),
        ({"size": "1000x1000"}, "invalid_value", "size"),  # not multiples of 16
        ({"size": "3840x1088"}, "invalid_value", "size"),  # wider than 3:1
        ({"size": "3840x2176"}, "invalid_value", "size"),  # more pixels than 3840x2160
        ({"model": "gpt-image-1", "size": "1536x864"}, "invalid_value", "size"),  # only gpt-image-2
        ({"quality": "ultra"}, "invalid_value", "quality"),
        ({"n": "two"}, "invalid_type", "n"),
        ({"n": 11}, "invalid_value", "n"),
        ({"extra_body": {"colour": "red"}}, "unknown_parameter", None),
    ],
)
async def test_a_request_the_description_refuses_is_answered_400_and_recorded(
    client: openai.AsyncOpenAI,
    openai_double: OpenAIImagesDouble,
    params: dict[str, Any],
    code: str,
    param: str | None,
) -> None:
    openai_double.expect_violations(1)
    params = {"model": "gpt-image-2", "size": "1024x1024", **params}

    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(prompt=PROMPT, **params)

    assert (caught.value.code, caught.value.param) == (code, param)
    assert caught.value.type == "invalid_request_error"
    [violation] = openai_double.violations
    assert violation.startswith("request to /v1/images/generations: ")
    assert violation.endswith(f"at $.{param}" if param else "at $")
    [request] = openai_double.requests
    assert request.fault == "invalid request"


@pytest.mark.parametrize(
    ("size", "valid"),
    [
        ("3840x2160", True),
        ("2160x3840", True),
        ("1008x336", True),
        ("1024x3088", False),  # narrower than 1:3
        ("4096x1536", False),  # an edge above 3840
        ("1536x864 ", False),
        ("0x0", False),
    ],
)
def test_gpt_image_2_size_rules(size: str, valid: bool) -> None:
    errors = openapi_schema.request_errors(
        GENERATIONS, {"model": "gpt-image-2", "prompt": PROMPT, "size": size}
    )
    assert (errors == []) is valid, _messages(errors)


async def test_an_edit_multipart_request_validates(
    client: openai.AsyncOpenAI, openai_double: OpenAIImagesDouble
) -> None:
    images = [("a.png", png_bytes(32, 32), "image/png"), ("b.png", png_bytes(16, 16), "image/png")]

    answer = await client.images.edit(
        image=images,
        mask=("mask.png", png_bytes(32, 32), "image/png"),
        prompt=PROMPT,
        model="gpt-image-2",
        size="1024x1024",
        n=2,
        quality="low",
        background="opaque",
        input_fidelity="high",
        output_format="png",
        safety_identifier="acct-1",
    )

    assert answer.data is not None
    assert len(answer.data) == 2
    [request] = openai_double.requests
    assert [name for name, _, _ in request.files] == ["image[]", "image[]", "mask"]
    assert openai_double.violations == []


def test_a_multipart_form_is_read_as_its_schema_types_it() -> None:
    parts = [
        ("image[]", Upload("a.png")),
        ("image[]", Upload("b.png")),
        ("mask", Upload("m.png")),
        ("prompt", "42"),  # a string property stays a string
        ("n", "2"),
        ("partial_images", "1"),
        ("stream", "true"),
    ]

    body = openapi_schema.form_body(EDITS, parts)

    assert body == {
        "image": ["a.png", "b.png"],
        "mask": "m.png",
        "prompt": "42",
        "n": 2,
        "partial_images": 1,
        "stream": True,
    }
    assert openapi_schema.request_errors(EDITS, body) == []


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ([("image", "not a file"), ("prompt", PROMPT)], "invalid_value", "image"),
        ([("prompt", PROMPT)], "missing_required_parameter", "image"),
        ([("image[]", None), ("prompt", PROMPT), ("n", "two")], "invalid_type", "n"),
        ([("image[]", None), ("prompt", PROMPT), ("stream", "yes")], "invalid_type", "stream"),
    ],
)
async def test_a_malformed_multipart_edit_is_answered_400_and_recorded(
    openai_double: OpenAIImagesDouble, fields: list[tuple[str, str | None]], code: str, param: str
) -> None:
    """Forms the SDK would not build, so sent by hand; `None` stands for a PNG file part."""
    openai_double.expect_violations(1)
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields:
        if value is None:
            form.add_field(name, png_bytes(8, 8), filename="a.png", content_type="image/png")
        else:
            form.add_field(name, value)
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{openai_double.base_url}/images/edits", data=form, headers=headers) as response,
    ):
        status, body = response.status, await response.json()

    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == (code, param)
    assert openapi_schema.answer_errors(EDITS, 400, body) == []
    [violation] = openai_double.violations
    assert violation.startswith("request to /v1/images/edits: ")


async def test_a_moderation_request_and_answer_validate(
    client: openai.AsyncOpenAI, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.flag_prompts = {"gore"}

    answer = await client.moderations.create(model="omni-moderation-latest", input=["a cat", "gore"])

    assert [result.flagged for result in answer.results] == [False, True]
    assert openai_double.violations == []


# -- answers ---------------------------------------------------------------------------------------


async def _generation_answer(client: openai.AsyncOpenAI) -> dict[str, Any]:
    raw = await client.images.with_raw_response.generate(
        model="gpt-image-2", prompt=PROMPT, size="1536x864", quality="high", safety_identifier="acct-1"
    )
    return raw.http_response.json()


def _drop(body: dict[str, Any], *path: str | int) -> dict[str, Any]:
    *parents, last = path
    target: Any = body
    for key in parents:
        target = target[key]
    del target[last]
    return body


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (lambda body: body | {"revised_prompt": "x"}, "('revised_prompt' was unexpected) at $"),
        (lambda body: _drop(body, "created"), "'created' is a required property at $"),
        (lambda body: body | {"created": "now"}, "'now' is not of type 'integer' at $.created"),
        (lambda body: _drop(body, "usage", "input_tokens_details"), "required property at $.usage"),
        (
            lambda body: body | {"data": [{"b64_json": 42}]},
            "42 is not of type 'string' at $.data[0].b64_json",
        ),
        (lambda body: body | {"size": "1536x865"}, "at $.size"),
        (lambda body: body | {"quality": "auto"}, "'auto' is not one of"),
    ],
    ids=["extra-field", "missing-created", "created-type", "usage-details", "b64-type", "size", "quality"],
)
async def test_a_generation_answer_validates_and_drift_is_caught(
    client: openai.AsyncOpenAI, drift: Any, expected: str
) -> None:
    body = await _generation_answer(client)
    assert openapi_schema.answer_errors(GENERATIONS, 200, body) == []

    errors = _messages(openapi_schema.answer_errors(GENERATIONS, 200, drift(copy.deepcopy(body))))

    [error] = errors
    assert expected in error


def _usage_without_details() -> dict[str, Any]:
    return {"input_tokens": 50, "output_tokens": 1000, "total_tokens": 1050}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_double_that_drifts_is_caught_on_its_real_traffic(
    client: openai.AsyncOpenAI,
    openai_double: OpenAIImagesDouble,
    monkeypatch: pytest.MonkeyPatch,
    stream: bool,
) -> None:
    """The answers of a double whose usage lost a required field are recorded as violations."""
    monkeypatch.setattr(openai_images, "_usage", _usage_without_details)
    openai_double.expect_violations(1)
    params: dict[str, Any] = {"model": "gpt-image-2", "prompt": PROMPT, "size": "1024x1024"}

    if stream:
        events = await client.images.generate(**params, stream=True, partial_images=2)
        async with events:
            _ = [event async for event in events]
    else:
        await client.images.generate(**params)

    [violation] = openai_double.violations
    where = "stream event 'image_generation.completed' of" if stream else "answer 200 to"
    assert violation == (
        f"{where} /v1/images/generations: 'input_tokens_details' is a required property at $.usage"
    )


@pytest.mark.parametrize(("edit", "prefix"), [(False, "image_generation"), (True, "image_edit")])
async def test_a_stream_validates_event_by_event(
    client: openai.AsyncOpenAI, openai_double: OpenAIImagesDouble, edit: bool, prefix: str
) -> None:
    params: dict[str, Any] = {"model": "gpt-image-2", "prompt": PROMPT, "size": "1536x864"}
    params.update(stream=True, partial_images=2, safety_identifier="acct-1")
    if edit:
        stream = await client.images.edit(image=[("a.png", png_bytes(8, 8), "image/png")], **params)
    else:
        stream = await client.images.generate(**params)

    async with stream:
        events = [event async for event in stream]

    assert [event.type for event in events] == [f"{prefix}.partial_image"] * 2 + [f"{prefix}.completed"]
    assert openai_double.violations == []


@pytest.mark.parametrize(
    ("operation", "event", "expected"),
    [
        (
            GENERATIONS,
            {"type": "image_generation.completed", "usage": None},
            "None is not of type 'object' at $.usage",
        ),
        (GENERATIONS, {"type": "image_edit.completed"}, "'image_edit.completed' is not an event type"),
        (EDITS, {"type": "image_edit.partial_image", "progress": 0.5}, "('progress' was unexpected)"),
        (EDITS, {"type": "image_edit.partial_image", "partial_image_index": "0"}, "at $.partial_image_index"),
    ],
)
async def test_a_drifting_stream_event_is_caught(
    client: openai.AsyncOpenAI, operation: str, event: dict[str, Any], expected: str
) -> None:
    """Each drift applied to an event the double really sent."""
    kind = str(event["type"]).rsplit(".", 1)[1]
    params: dict[str, Any] = {"prompt": PROMPT, "stream": True, "partial_images": 1, "model": "gpt-image-2"}
    if operation == EDITS:
        stream = await client.images.edit(image=[("a.png", png_bytes(8, 8), "image/png")], **params)
    else:
        stream = await client.images.generate(**params)
    async with stream:
        sent = [event.to_dict() async for event in stream]
    [original] = [data for data in sent if data["type"].endswith(kind)]
    assert openapi_schema.event_errors(operation, original) == []

    errors = _messages(openapi_schema.event_errors(operation, original | event))

    [error] = errors
    assert expected in error


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
async def test_injected_errors_validate(
    client: openai.AsyncOpenAI, openai_double: OpenAIImagesDouble, status: int
) -> None:
    openai_double.fail(status, code="some_code", message="Something went wrong.")

    with pytest.raises(openai.APIStatusError) as caught:
        await client.images.generate(model="gpt-image-2", prompt=PROMPT)

    assert caught.value.status_code == status
    assert openai_double.violations == []


async def test_a_stream_error_event_validates(
    client: openai.AsyncOpenAI, openai_double: OpenAIImagesDouble
) -> None:
    openai_double.stream_error()
    stream = await client.images.generate(model="gpt-image-2", prompt=PROMPT, stream=True, partial_images=1)

    with pytest.raises(openai.APIError, match="The server had an error"):
        async with stream:
            _ = [event async for event in stream]

    assert openai_double.violations == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"message": "m", "type": "server_error", "code": None}, "'param' is a required property at $.error"),
        ({"message": "m", "type": "server_error", "param": None, "code": 500}, "at $.error.code"),
        (
            {"message": "m", "type": "server_error", "param": None, "code": None, "x": 1},
            "('x' was unexpected)",
        ),
    ],
)
def test_a_drifting_error_body_or_event_is_caught(error: dict[str, Any], expected: str) -> None:
    [in_body] = _messages(openapi_schema.answer_errors(GENERATIONS, 500, {"error": error}))
    [in_event] = _messages(openapi_schema.event_errors(GENERATIONS, {"type": "error", "error": error}))

    assert expected in in_body
    assert expected in in_event


class _HandRolledErrors(OpenAIImagesDouble):
    """Answers like bench's rate-limited double would if it forgot the error's required fields."""

    async def _images(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"message": "Slow down."}}, status=429)


async def test_answers_a_subclass_makes_are_checked_too(client: openai.AsyncOpenAI) -> None:
    double = _HandRolledErrors()
    await double.start()
    try:
        with pytest.raises(openai.RateLimitError):
            await client.with_options(base_url=double.base_url).images.generate(prompt=PROMPT)
    finally:
        await double.close()

    assert double.violations == [
        f"answer 429 to /v1/images/generations: '{name}' is a required property at $.error"
        for name in ("type", "param", "code")
    ]
    with pytest.raises(pytest.fail.Exception, match=r"saw 3 breaches .*, 0 expected"):
        double.check_violations()
    double.expect_violations(3)
    double.check_violations()


def test_a_missing_description_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="shared/specs/ must sit beside the repository"):
        openapi_schema.read_spec(tmp_path / "openai-openapi.json")
