"""Stripe's own example objects (stripe/openapi `fixtures3.json`, see shared/specs/README.md).

The Stripe double builds every object it answers with from these, so its shapes are Stripe's, not ours.
The file lives in `shared/` beside the repository (CI copies it there), not inside it.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "stripe-fixtures3.json"


@functools.cache
def resources() -> dict[str, dict[str, Any]]:
    """`{object name: example object}`, read once per process. Never mutate: use `template`."""
    if not FIXTURES.is_file():
        raise FileNotFoundError(
            f"Stripe's object fixtures are missing: expected {FIXTURES} "
            "(shared/specs/ beside the repository; see shared/specs/README.md)"
        )
    loaded: dict[str, dict[str, Any]] = json.loads(FIXTURES.read_text(encoding="utf-8"))["resources"]
    return loaded


def template(name: str) -> dict[str, Any]:
    """A deep copy of Stripe's example `name` object (e.g. "invoice", "checkout.session")."""
    return copy.deepcopy(resources()[name])
