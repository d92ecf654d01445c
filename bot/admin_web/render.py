"""Pages from the package's Jinja2 templates, escaped by default."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.operators import SignedIn

TEMPLATES = Path(__file__).parent / "templates"


def when(value: datetime | str | None) -> str:
    """A moment as operators read it: 2026-12-04 22:46 UTC."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class Renderer:
    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True
        )
        self._env.filters["when"] = when

    def page(
        self, template: str, signed_in: SignedIn | None, *, status: int = 200, **context: Any
    ) -> web.Response:
        context.setdefault("notice", None)
        context.setdefault("problem", None)
        html = self._env.get_template(template).render(signed_in=signed_in, **context)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
