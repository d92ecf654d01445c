"""What the Overview page shows: the figures of a period, formatted, and their charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.admin_web.charts import bar_chart, grouped_bar_chart, ranked_chart
from core.db.session import Database
from core.figures import Overview, Period, Revenue, Series, Spread, overview

PERIOD_NAMES = {Period.DAY: "24 hours", Period.WEEK: "7 days", Period.MONTH: "30 days"}
STARS = "XTR"
# ISO 4217 currencies without a minor unit, as Stripe lists them: their amounts are whole units.
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)


def period_of(value: str | None) -> Period:
    """The period a query string asks for; anything unknown is the last 24 hours."""
    try:
        return Period(value or "")
    except ValueError:
        return Period.DAY


async def overview_context(
    db: Database, period: str | None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The variables `overview.html` renders (documented at its top)."""
    chosen = period_of(period)
    figures = await overview(db, chosen, now=now)
    return {
        "period": chosen.value,
        "periods": [(each.value, name) for each, name in PERIOD_NAMES.items()],
        "period_name": PERIOD_NAMES[chosen],
        "bucket": "hour" if chosen == Period.DAY else "day",
        "overview": figures,
        "charts": charts(figures),
        "revenue": [revenue_row(line) for line in figures.revenue],
        "wait": spread_row(figures.wait),
        "latency": spread_row(figures.latency),
    }


def charts(figures: Overview) -> dict[str, Any]:
    labels = bucket_labels(figures)
    return {
        "images": bar_chart("Images delivered", labels, _values(figures.images)),
        "credits": grouped_bar_chart(
            "Credits",
            labels,
            [
                ("sold", _values(figures.credits_sold)),
                ("spent", _values(figures.credits_spent)),
                ("refunded", _values(figures.credits_refunded)),
            ],
        ),
        "active_users": bar_chart("Active users", labels, _values(figures.active_users)),
        "failures": ranked_chart("Failures by cause", figures.failures),
    }


def bucket_labels(figures: Overview) -> list[str]:
    """`14:00` for hours, `03-10` for days (UTC)."""
    hourly = figures.period == Period.DAY
    return [start.strftime("%H:%M" if hourly else "%m-%d") for start, _ in figures.images.points]


def revenue_row(line: Revenue) -> dict[str, Any]:
    return {
        "currency": line.currency,
        "gross": money(line.gross, line.currency),
        "returned": money(line.returned, line.currency),
        "net": money(line.net, line.currency),
        "payments": line.payments,
    }


def money(amount: int, currency: str) -> str:
    """Minor units as an amount a person reads: `12.34 USD`, `1,200 JPY`, `150 Stars`."""
    if currency == STARS:
        return f"{amount:,} Stars"
    if currency in ZERO_DECIMAL:
        return f"{amount:,} {currency}"
    return f"{amount / 100:,.2f} {currency}"


def spread_row(spread: Spread) -> dict[str, Any]:
    return {"count": spread.count, "median": duration(spread.median_s), "p90": duration(spread.p90_s)}


def duration(seconds: float | None) -> str:
    """`0.4 s`, `12 s`, `3 min 20 s`, `2 h 5 min`; a dash when there is nothing to measure."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _values(series: Series) -> list[int]:
    return [value for _, value in series.points]
