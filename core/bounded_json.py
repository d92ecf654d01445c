"""JSON from outside (a webhook's body), decoded within bounds: malformed or absurdly nested input is
one error the caller answers with 400, never a RecursionError deep inside whoever walks it next."""

from __future__ import annotations

import json
from typing import Any

# Telegram updates and Stripe events nest about ten levels deep; a keyboard or an invoice's lines add a few.
MAX_DEPTH = 64


class BadJson(ValueError):
    """Not JSON, or nested deeper than allowed."""


def bounded_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The decoded value of `body` (size-capped by the caller); BadJson when it is not JSON or nests
    arrays and objects more than `max_depth` levels deep."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as error:  # the C decoder stops at the recursion limit
        raise BadJson(type(error).__name__) from None
    if _deeper_than(value, max_depth):
        raise BadJson("nested too deeply")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Walks level by level, without recursion, and stops at the first level past `limit`."""
    level = [value]
    depth = 0
    while level:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return False
        depth += 1
        if depth > limit:
            return True
        level = [child for item in containers for child in _children(item)]
    return False


def _children(container: dict[str, Any] | list[Any]) -> Any:
    return container.values() if isinstance(container, dict) else container
