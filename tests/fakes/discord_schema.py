"""What Discord accepts as a bot's slash commands: its OpenAPI description, and the documented rules it lacks.

The description (`shared/specs/discord-openapi.json` beside the repository) gives the shapes and the
lengths: names of 1-32 characters, descriptions up to 100, at most 25 options and 25 choices. Discord's
documentation adds rules the description cannot say, checked here too:
- a name is lowercase letters, digits, `-` and `_` (any script: `画` is a name);
- required options come before optional ones;
- a command's names, descriptions and choice names and values, every localization included, add up to
  at most 4,000 characters;
- an application has at most 100 global slash commands, each name once.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "discord-openapi.json"
MAX_COMMANDS = 100
MAX_COMMAND_CHARS = 4000


@functools.cache
def _validator() -> Draft202012Validator:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    body = spec["paths"]["/applications/{application_id}/commands"]["put"]["requestBody"]
    schema = {**body["content"]["application/json"]["schema"], "components": spec["components"]}
    return Draft202012Validator(schema)


@functools.cache
def _response_validator(schema_name: str) -> Draft202012Validator:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    return Draft202012Validator(schema)


def response_errors(schema_name: str, body: Any) -> list[str]:
    """How an answer of the double differs from what the description says Discord answers."""
    return [_described(error) for error in _response_validator(schema_name).iter_errors(body)]


def command_errors(commands: list[dict[str, Any]]) -> list[str]:
    """Why Discord would refuse this list of commands (a bulk overwrite); empty when it would take it."""
    found = [_described(error) for error in _validator().iter_errors(commands)]
    names = [command["name"] for command in commands]
    if len(names) > MAX_COMMANDS:
        found.append(f"{len(names)} commands, at most {MAX_COMMANDS}")
    found += [f"{name}: listed twice" for name in sorted({n for n in names if names.count(n) > 1})]
    for command in commands:
        found += _rules(command["name"], command)
        if (size := _characters(command)) > MAX_COMMAND_CHARS:
            found.append(f"{command['name']}: {size} characters, at most {MAX_COMMAND_CHARS}")
    return found


def _described(error: ValidationError) -> str:
    """Where and why; for an option that fits none of the option types, why it fails its own type."""
    branches: dict[object, list[ValidationError]] = {}
    for inner in error.context or []:
        branches.setdefault(inner.relative_schema_path[0], []).append(inner)
    own = [
        errors
        for errors in branches.values()
        if not any(list(inner.relative_path) == ["type"] for inner in errors)
    ]
    if len(own) == 1:
        return "; ".join(_described(inner) for inner in own[0])
    return f"{'/'.join(map(str, error.absolute_path))}: {error.message}"


def _rules(where: str, item: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name in (item["name"], *(item.get("name_localizations") or {}).values()):
        if not _is_name(name):
            found.append(f"{where}: {name!r} is no command name")
    options = item.get("options") or []
    required = [bool(option.get("required")) for option in options]
    if required != sorted(required, reverse=True):
        found.append(f"{where}: a required option after an optional one")
    for option in options:
        found += _rules(f"{where}.{option['name']}", option)
    return found


def _is_name(name: str) -> bool:
    """Discord's `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where a script has case
    (the marks of the Devanagari and Thai scripts read as any combining mark)."""
    allowed = all(
        char in "-_" or char.isalnum() or unicodedata.category(char) in ("Mn", "Mc") for char in name
    )
    return 1 <= len(name) <= 32 and allowed and name == name.lower()


def _characters(item: dict[str, Any]) -> int:
    """Names, descriptions, choice names and values, with their localizations, of an item and its options."""
    size = 0
    for key in ("name", "description"):
        size += len(item.get(key) or "") + sum(map(len, (item.get(f"{key}_localizations") or {}).values()))
    for choice in item.get("choices") or []:
        size += len(str(choice["value"])) + len(choice["name"])
        size += sum(map(len, (choice.get("name_localizations") or {}).values()))
    return size + sum(_characters(option) for option in item.get("options") or [])
