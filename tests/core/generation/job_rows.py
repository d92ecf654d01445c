"""A job row's descriptive columns, for tests that write jobs below the commands."""

from __future__ import annotations

from typing import Any

JOB_COLUMNS: dict[str, Any] = {
    "identity": "test:1",
    "chat": "test:private:1",
    "language": "en",
    "prompt": "a fox",
    "provider_prompt": "a fox",
    "style": "none",
    "ratio": "1:1",
    "tier": "1k",
    "width": 1024,
    "height": 1024,
    "model": "gpt-image-2",
    "quality": "medium",
    "n": 1,
    "parent_id": None,
    "action": None,
    "lane": "paid",
}
