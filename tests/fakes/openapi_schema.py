"""OpenAI's own OpenAPI description of the Images and Moderations endpoints, compiled once per process, so
the OpenAI double can check every request it receives and every answer and stream event it sends.

The document (OpenAPI 3.1, whose schemas are JSON Schema 2020-12) comes from `shared/specs/` beside the
repository. Only the schemas these endpoints reach are taken, adjusted where the document says more in
OpenAPI terms or in prose than its JSON Schema does:

- `nullable: true` (an OpenAPI 3.0 keyword the document still uses) lets `null` through;
- every object is closed: the real API refuses parameters it does not know ("Unrecognized request
  argument"), and a field the double sends that the spec does not describe is drift;
- `size` is held to the rules the description states in prose (see `_request_size_rule`);
- the few points where the newer SDK contradicts the document follow the SDK (see `_follow_newer_sdk`).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "openai-openapi.json"
_URI = "urn:openai-openapi"
_SCHEMAS = "#/components/schemas/"
_OPERATIONS = ("/images/generations", "/images/edits", "/moderations")
_ERROR_RESPONSE = "ErrorResponse"  # the spec lists no error responses per operation: this is its error body
# The models that take any WxH size: gpt-image-2 and its snapshots (the document), and gpt-image-2.5-sunburst
# and -flare with theirs (the SDK, which is newer: see `_follow_newer_sdk`).
_ANY_SIZE_MODELS = r"^gpt-image-2(\.5-(sunburst|flare))?(-[0-9]{4}-[0-9]{2}-[0-9]{2})?$"
_IMAGE_SIZE = "gpt-image-2-size"  # our format: WxH, both multiples of 16, ratio 1:3..3:1, <= 3840x2160 px
_MAX_PIXELS = 3840 * 2160
_MAX_EDGE = 3840
_MAX_MESSAGE = 300

_FORMATS = FormatChecker(formats=())


class Upload(str):
    """A multipart file part (its filename): what the schema's `type: string, format: binary` stands for.

    A plain string in the same place is a text field where the API wants a file."""


@_FORMATS.checks("binary")
def _is_upload(instance: object) -> bool:
    return not isinstance(instance, str) or isinstance(instance, Upload)


@_FORMATS.checks(_IMAGE_SIZE)
def _is_image_size(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = re.fullmatch(r"([1-9][0-9]*)x([1-9][0-9]*)", instance)
    if match is None:
        return False
    width, height = int(match[1]), int(match[2])
    return (
        width % 16 == 0
        and height % 16 == 0
        and Fraction(1, 3) <= Fraction(width, height) <= 3
        and max(width, height) <= _MAX_EDGE
        and width * height <= _MAX_PIXELS
    )


def read_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(
            f"OpenAI's OpenAPI description is missing at {path}: the OpenAI double checks its traffic "
            "against it. shared/specs/ must sit beside the repository (CI copies shared/ there)."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_name(ref: str) -> str:
    return ref.removeprefix(_SCHEMAS)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield _schema_name(value)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(schemas: dict[str, Any], roots: Iterable[str]) -> dict[str, Any]:
    """Deep copies of `roots` and every schema they reference, transitively."""
    found: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = copy.deepcopy(schemas[name])
            pending.extend(_refs(found[name]))
    return found


def _adapt(node: Any) -> None:
    """`nullable` to JSON Schema, and every object with `properties` closed (see the module docstring)."""
    if isinstance(node, list):
        for item in node:
            _adapt(item)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "properties":
            for schema in value.values():
                _adapt(schema)
        elif not key.startswith("x-") and key not in ("example", "default", "enum", "const"):
            _adapt(value)
    if node.pop("nullable", False):
        if "anyOf" in node:
            node["anyOf"].append({"type": "null"})
        elif "type" in node:
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"].append(None)
    if "properties" in node and "additionalProperties" not in node:
        node["unevaluatedProperties"] = False


def _request_size_rule(size: dict[str, Any]) -> dict[str, Any]:
    """The document types `size` as any string; its description (and the SDK's) give the rules the API
    enforces: the gpt-image-2 models take `auto` or WIDTHxHEIGHT (both multiples of 16, ratio between 1:3
    and 3:1, at most 3840x2160 pixels), every other model only the sizes the document lists."""
    listed = next(branch["enum"] for branch in size["anyOf"] if "enum" in branch)
    return {
        "if": {
            "required": ["model"],
            "properties": {"model": {"type": "string", "pattern": _ANY_SIZE_MODELS}},
        },
        "then": {"properties": {"size": {"anyOf": [{"const": "auto"}, {"format": _IMAGE_SIZE}]}}},
        "else": {"properties": {"size": {"enum": [*listed, None]}}},
    }


def _follow_newer_sdk(schemas: dict[str, Any]) -> None:
    """Where the SDK and the document disagree, the newer wins: the SDK. Every openai version pyproject
    allows (>= 3.51, published 2026-11) is newer than this document (openai-openapi @ 2026-08-21).

    - Answers carry the size actually drawn as WIDTHxHEIGHT (SDK: `size: Union[str, Literal[...]]`,
      "for example `1536x864`"); the document still lists only the three classic sizes.
    - Requests take `safety_identifier`, and answers echo it (SDK: `safety_identifier: Optional[str]`
      on the params, `ImagesResponse` and the completed events); the document does not know it.
    """
    echoing = ("CreateImageRequest", "CreateImageEditRequest", "ImagesResponse")
    for name in (*echoing, "ImageGenCompletedEvent", "ImageEditCompletedEvent"):
        schemas[name]["properties"]["safety_identifier"] = {"type": ["string", "null"]}
    answers = (
        "ImagesResponse",
        "ImageGenPartialImageEvent",
        "ImageGenCompletedEvent",
        "ImageEditPartialImageEvent",
        "ImageEditCompletedEvent",
    )
    for name in answers:
        properties = schemas[name]["properties"]
        properties["size"] = {"anyOf": [properties["size"], {"type": "string", "format": _IMAGE_SIZE}]}


class _Spec:
    """The operations' schemas, adapted, and a validator for each."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.requests: dict[str, str] = {}  # operation -> request schema name
        self.answers: dict[str, str] = {}  # operation -> 200 JSON answer schema name
        streams: dict[str, str] = {}  # operation -> stream event schema name
        for operation in _OPERATIONS:
            post = document["paths"][operation]["post"]
            body = post["requestBody"]["content"]
            request = body.get("multipart/form-data") or body["application/json"]
            self.requests[operation] = _schema_name(request["schema"]["$ref"])
            content = post["responses"]["200"]["content"]
            self.answers[operation] = _schema_name(content["application/json"]["schema"]["$ref"])
            if "text/event-stream" in content:
                streams[operation] = _schema_name(content["text/event-stream"]["schema"]["$ref"])
        roots = {*self.requests.values(), *self.answers.values(), *streams.values(), _ERROR_RESPONSE}
        schemas = _reachable(document["components"]["schemas"], roots)
        # A stream's schema is an anyOf with a `type` discriminator: the branch is picked by `type`, so a
        # bad event is reported against its own schema rather than as matching no branch.
        self.events: dict[str, dict[str, str]] = {}  # operation -> {event type -> schema name}
        for operation, stream in streams.items():
            branches = [_schema_name(branch["$ref"]) for branch in schemas[stream]["anyOf"]]
            self.events[operation] = {
                schemas[name]["properties"]["type"]["enum"][0]: name for name in branches
            }
        for schema in schemas.values():
            _adapt(schema)
        for operation in ("/images/generations", "/images/edits"):
            request = schemas[self.requests[operation]]
            request.setdefault("allOf", []).append(_request_size_rule(request["properties"]["size"]))
        _follow_newer_sdk(schemas)
        resource = Resource(contents={"components": {"schemas": schemas}}, specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(_URI, resource)
        self.schemas = schemas
        self.validators = {name: self._validator({"$ref": f"{_URI}{_SCHEMAS}{name}"}) for name in schemas}
        # The document describes no error event for image streams. The SDK raises on an event whose data
        # has an `error` object, so the double's is ErrorResponse's body plus `type: error`.
        self.stream_error = self._validator(
            {
                "type": "object",
                "required": ["type", "error"],
                "properties": {"type": {"const": "error"}, "error": {"$ref": f"{_URI}{_SCHEMAS}Error"}},
                "unevaluatedProperties": False,
            }
        )

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self._registry, format_checker=_FORMATS)

    def types(self, schema: dict[str, Any]) -> set[str]:
        """The JSON types a (sub)schema allows, through `$ref` and `anyOf`/`oneOf`."""
        if "$ref" in schema:
            return self.types(self.schemas[_schema_name(schema["$ref"])])
        found = {schema["type"]} if isinstance(schema.get("type"), str) else set(schema.get("type", ()))
        for branch in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
            found |= self.types(branch)
        return found


@functools.cache
def spec() -> _Spec:
    """Read and compile once per process (the document is 3.4 MB)."""
    return _Spec(read_spec(SPEC_PATH))


def _sorted(errors: Iterable[ValidationError]) -> list[ValidationError]:
    return sorted(errors, key=lambda error: error.json_path)


def request_errors(operation: str, body: Any) -> list[ValidationError]:
    """`operation` as the spec names it ("/images/generations"); a multipart body as `form_body` made it."""
    return _sorted(spec().validators[spec().requests[operation]].iter_errors(body))


def answer_errors(operation: str, status: int, body: Any) -> list[ValidationError]:
    """A JSON answer: the operation's 200 schema, or the error body for any other status."""
    name = spec().answers[operation] if status == 200 else _ERROR_RESPONSE
    return _sorted(spec().validators[name].iter_errors(body))


def event_errors(operation: str, event: Any) -> list[ValidationError]:
    """One server-sent event's data of a streamed answer, picked by its `type`."""
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "error":
        return _sorted(spec().stream_error.iter_errors(event))
    schemas = spec().events[operation]
    if kind not in schemas:
        message = f"{kind!r} is not an event type of this stream (one of {sorted(schemas)})"
        return [ValidationError(message, validator="discriminator", path=["type"])]
    return _sorted(spec().validators[schemas[kind]].iter_errors(event))


def form_body(operation: str, parts: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A multipart request as the JSON its schema describes: `name[]` parts gathered into an array, a
    repeated name too, and text values converted to the number or boolean the property is typed as (the
    SDK sends `n=1` as "1", `stream=True` as "true"). File parts are `Upload`s."""
    properties = spec().schemas[spec().requests[operation]]["properties"]
    body: dict[str, Any] = {}
    arrays: set[str] = set()
    for raw_name, value in parts:
        name = raw_name.removesuffix("[]")
        if not isinstance(value, Upload) and name in properties:
            value = _typed(value, spec().types(properties[name]))
        if raw_name.endswith("[]") or name in body:
            if name not in arrays:
                body[name] = [body[name]] if name in body else []
                arrays.add(name)
            body[name].append(value)
        else:
            body[name] = value
    return body


def _typed(text: str, types: set[str]) -> Any:
    if "integer" in types and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if "number" in types and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text):
        return float(text)
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    return text


def describe(error: ValidationError) -> str:
    """The validator's message, what the failing branches of an anyOf/oneOf said, and where."""
    message = _shorten(error.message)
    if error.context:
        branches = dict.fromkeys(_shorten(sub.message) for sub in error.context)
        message += " (" + "; ".join(branches) + ")"
    return f"{message} at {error.json_path}"


def _shorten(message: str) -> str:
    """Messages quote the instance, which may be a whole base64 image: its middle goes."""
    half = _MAX_MESSAGE // 2
    return message if len(message) <= _MAX_MESSAGE else f"{message[:half]} ... {message[-half:]}"
