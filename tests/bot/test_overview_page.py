"""The Overview page renders a period's figures and charts from the database, switches between periods and
falls back to the last 24 hours for a period it does not know."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

import bot.admin_web.overview_page as page
from core.credits import EntryKind
from core.db.session import Database
from core.db.statuses import JobStatus
from tests.core.figure_rows import accounts, add_entry, add_job, add_payment

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
TEMPLATES = Path(page.__file__).parent / "templates"
# What the real layout provides, and no more: the blocks the page fills.
LAYOUT = (
    "<!doctype html><html><head>{% block head %}{% endblock %}<title>{% block title %}{% endblock %}</title>"
)
LAYOUT += "</head><body><main>{% block content %}{% endblock %}</main></body></html>"


def render(context: dict[str, Any]) -> str:
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATES), DictLoader({"layout.html": LAYOUT})]),
        autoescape=True,
    )
    return environment.get_template("overview.html").render(context)


class Page(HTMLParser):
    """The page's links, its text and its inline SVG charts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: dict[str, dict[str, str | None]] = {}
        self.text: list[str] = []
        self.feed(html)
        self.charts = [ET.fromstring(svg) for svg in _svgs(html)]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            attributes = dict(attrs)
            self.links[attributes.get("href") or ""] = attributes

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))


def _svgs(html: str) -> list[str]:
    found, rest = [], html
    while "<svg" in rest:
        start = rest.index("<svg")
        end = rest.index("</svg>", start) + len("</svg>")
        found.append(rest[start:end])
        rest = rest[end:]
    return found


async def test_the_page_shows_the_periods_figures_and_charts(db: Database) -> None:
    alice, bob = await accounts(db, 2)
    ten = datetime(2026, 3, 10, 10, 5, tzinfo=UTC)
    started = datetime(2026, 3, 10, 10, 1, tzinfo=UTC)
    await add_job(
        db, alice, JobStatus.SUCCEEDED, created=started, started=started, finished=ten, n=3, cost=30
    )
    await add_job(db, bob, JobStatus.FAILED, created=ten, finished=ten, error="moderation")
    await add_job(db, bob, JobStatus.QUEUED, created=NOW)
    await add_entry(db, bob, EntryKind.REFUND, 10, ten)
    await add_payment(db, alice, amount=1234, currency="usd", status="paid", credits=100, when=ten)
    await add_payment(db, bob, amount=150, currency="XTR", status="paid", credits=75, when=ten)

    html = render(await page.overview_context(db, "24h", now=NOW))
    shown = Page(html)

    assert shown.links["?period=24h"].get("aria-current") == "page"
    assert "aria-current" not in shown.links["?period=7d"]
    assert "?period=30d" in shown.links
    text = " ".join(shown.text)
    for figure in ("Images delivered 3", "Active users 2", "Credits sold 175", "Credits spent 30"):
        assert figure in text
    assert "Credits refunded 10" in text
    assert "Queue now 1" in text
    assert "12.34 USD" in text
    assert "150 Stars" in text
    assert "4 min 0 s" in text  # the provider's time for the one delivered job
    titles = [chart.get("aria-label") for chart in shown.charts]
    assert titles == ["Images delivered", "Credits", "Active users", "Failures by cause"]
    images = shown.charts[0]
    assert len([rect for rect in images.iter("{http://www.w3.org/2000/svg}rect")]) == 24
    assert "moderation" in [text.text for text in shown.charts[3].iter("{http://www.w3.org/2000/svg}text")]


async def test_each_period_has_its_buckets_and_an_unknown_one_is_a_day(db: Database) -> None:
    for asked, period, bars in [
        ("7d", "7d", 7),
        ("30d", "30d", 30),
        ("forever", "24h", 24),
        (None, "24h", 24),
    ]:
        context = await page.overview_context(db, asked, now=NOW)

        assert context["period"] == period
        assert len(context["overview"].images.points) == bars
        shown = Page(render(context))
        assert shown.links[f"?period={period}"].get("aria-current") == "page"
        assert "No payments in this period." in shown.text


def test_amounts_and_durations_read_as_people_write_them() -> None:
    assert page.money(123456, "EUR") == "1,234.56 EUR"
    assert page.money(1500, "JPY") == "1,500 JPY"
    assert page.money(2500, "XTR") == "2,500 Stars"
    assert [page.duration(s) for s in (None, 0.42, 12.4, 200, 7500)] == [
        "–",
        "0.4 s",
        "12 s",
        "3 min 20 s",
        "2 h 5 min",
    ]
