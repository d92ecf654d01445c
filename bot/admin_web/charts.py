"""Charts as server-side SVG: fixed dimensions, no script, every text escaped, a title for screen readers.

Bars are drawn from zero up to the largest value, which is labelled on the vertical axis; each bar carries
a `<title>` with its label and value (a tooltip, and what assistive technology reads).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 40  # room for the axes' labels and the legend
COLOURS = ("#3b6fb6", "#d08a2e", "#5a9e5a", "#a04a8c")
MAX_AXIS_LABELS = 8
ROW = 22  # one item of a ranked chart
LABEL_WIDTH, VALUE_WIDTH = 180, 60
LABEL_CHARACTERS = 28  # what fits in LABEL_WIDTH; a longer label is cut, and whole in the bar's title


def bar_chart(title: str, labels: Sequence[str], values: Sequence[int]) -> Markup:
    """One bar per label."""
    return grouped_bar_chart(title, labels, [(title, values)])


def grouped_bar_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]
) -> Markup:
    """Side by side within each label, one bar per series, with a legend when there is more than one."""
    if any(len(values) != len(labels) for _, values in series):
        raise ValueError("every series needs one value per label")
    peak = max((value for _, values in series for value in values), default=0)
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    baseline = TOP + plot_height
    parts = _value_axis(peak, baseline)
    for i, label in enumerate(labels):
        for j, (name, values) in enumerate(series):
            height = plot_height * max(values[i], 0) / peak if peak > 0 else 0
            tip = f"{label}: {values[i]:,}" if len(series) == 1 else f"{name}, {label}: {values[i]:,}"
            parts.append(
                _bar(
                    j, tip, x=LEFT + slot * (i + 0.1) + bar * j, y=baseline - height, width=bar, height=height
                )
            )
    every = -(-len(labels) // MAX_AXIS_LABELS) or 1
    for i in range(0, len(labels), every):
        parts.append(_tag("text", labels[i], x=LEFT + slot * (i + 0.5), y=baseline + 16, anchor="middle"))
    if len(series) > 1:
        parts.extend(_legend([name for name, _ in series]))
    return _svg(title, HEIGHT, parts)


def ranked_chart(title: str, items: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars, one row per item in the order given, the label on the left and the value on the
    right: for categories whose names are too long to stand under a bar."""
    track = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    peak = max((value for _, value in items), default=0)
    parts = []
    for i, (label, value) in enumerate(items):
        y = TOP + ROW * i
        length = track * max(value, 0) / peak if peak > 0 else 0
        parts += [
            _tag("text", _shortened(label), x=LABEL_WIDTH - 6, y=y + 14, anchor="end"),
            _bar(0, f"{label}: {value:,}", x=LABEL_WIDTH, y=y + 3, width=length, height=ROW - 6),
            _tag("text", f"{value:,}", x=LABEL_WIDTH + length + 4, y=y + 14),
        ]
    if not items:
        parts.append(_tag("text", "none", x=WIDTH / 2, y=TOP + 14, anchor="middle"))
    return _svg(title, TOP + ROW * max(len(items), 1) + 8, parts)


def _shortened(label: str) -> str:
    return label if len(label) <= LABEL_CHARACTERS else label[: LABEL_CHARACTERS - 1] + "…"


def _svg(title: str, height: int, parts: list[str]) -> Markup:
    opening = _tag(
        "svg",
        _tag("title", title),
        xmlns="http://www.w3.org/2000/svg",
        class_="chart",
        width=WIDTH,
        height=height,
        viewBox=f"0 0 {WIDTH} {height}",
        role="img",
        aria_label=title,
        font_family="sans-serif",
        font_size=11,
    )
    return Markup("".join([opening.removesuffix("</svg>"), *parts, "</svg>"]))


def _bar(series: int, tip: str, *, x: float, y: float, width: float, height: float) -> str:
    colour = COLOURS[series % len(COLOURS)]
    return _tag(
        "rect",
        _tag("title", tip),
        class_=f"bar series-{series}",
        x=x,
        y=y,
        width=width,
        height=height,
        fill=colour,
    )


def _value_axis(peak: int, baseline: float) -> list[str]:
    """The axis line, zero, and the largest value with a dashed guide at its height."""
    parts = [
        _tag("line", class_="axis", x1=LEFT, y1=baseline, x2=WIDTH - RIGHT, y2=baseline, stroke="#888"),
        _tag("text", "0", x=LEFT - 6, y=baseline + 4, anchor="end"),
    ]
    if peak > 0:
        guide = {"x1": LEFT, "y1": TOP, "x2": WIDTH - RIGHT, "y2": TOP, "stroke": "#ccc"}
        parts += [
            _tag("line", class_="guide", stroke_dasharray="3 3", **guide),
            _tag("text", f"{peak:,}", class_="peak", x=LEFT - 6, y=TOP + 4, anchor="end"),
        ]
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    x = LEFT
    for j, name in enumerate(names):
        parts += [
            _tag("rect", x=x, y=HEIGHT - 12, width=10, height=10, fill=COLOURS[j % len(COLOURS)]),
            _tag("text", name, class_="legend", x=x + 14, y=HEIGHT - 3),
        ]
        x += 24 + 7 * len(name)
    return parts


def _tag(name: str, content: str = "", /, *, anchor: str | None = None, **attributes: object) -> str:
    """An element with its attributes and text escaped; `content` made by `_tag` is kept as it is.
    `class_` is `class`, underscores are hyphens, and `anchor` is `text-anchor`."""
    if anchor:
        attributes["text-anchor"] = anchor
    written = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(_number(value))}"'
        for key, value in attributes.items()
    )
    body = content if isinstance(content, Markup) else escape(content)
    return Markup(f"<{name}{written}>{body}</{name}>" if body else f"<{name}{written}/>")


def _number(value: object) -> object:
    return f"{value:.1f}" if isinstance(value, float) else value
