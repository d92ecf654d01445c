"""The admin's charts are well-formed SVG that name themselves, keep hostile text as text, and draw bars in
proportion to their values with the largest one labelled."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.admin_web.charts import bar_chart, grouped_bar_chart, ranked_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(\"x\")</script> & 'quoted' </svg>"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if "bar" in rect.get("class", "").split()]


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_a_bar_chart_is_an_image_named_by_its_title() -> None:
    root = parse(bar_chart("Images delivered", ["00:00", "01:00"], [3, 4]))

    assert root.tag == f"{SVG}svg"
    assert (root.get("role"), root.get("aria-label")) == ("img", "Images delivered")
    assert root[0].tag == f"{SVG}title"
    assert root[0].text == "Images delivered"
    assert (root.get("width"), root.get("height")) == ("640", "220")


def test_hostile_labels_and_titles_stay_text() -> None:
    chart = grouped_bar_chart(HOSTILE, [HOSTILE, "b"], [(HOSTILE, [1, 2]), ("spent", [3, 4])])
    root = parse(chart)

    assert not list(root.iter(f"{SVG}script"))
    assert "<script>" not in chart
    assert root.get("aria-label") == HOSTILE
    assert root[0].text == HOSTILE
    assert HOSTILE in texts(root)  # the axis label and the legend
    assert bars(root)[0].find(f"{SVG}title").text == f"{HOSTILE}, {HOSTILE}: 1"

    ranked = parse(ranked_chart(HOSTILE, [(HOSTILE, 2)]))
    assert texts(ranked)[0] == HOSTILE[:27] + "…"
    assert bars(ranked)[0].find(f"{SVG}title").text == f"{HOSTILE}: 2"
    assert not list(ranked.iter(f"{SVG}script"))


def test_bar_heights_are_proportional_and_the_peak_is_labelled() -> None:
    values = [0, 5, 10, 20, 15]
    root = parse(bar_chart("Credits", [f"d{i}" for i in range(5)], values))

    heights = [float(rect.get("height", "")) for rect in bars(root)]
    tallest = max(heights)
    assert tallest > 100
    assert heights == pytest.approx([tallest * value / 20 for value in values], abs=0.1)
    bottoms = {round(float(rect.get("y", "")) + float(rect.get("height", "")), 1) for rect in bars(root)}
    assert len(bottoms) == 1  # every bar stands on the same axis
    assert "20" in texts(root)
    assert [rect.find(f"{SVG}title").text for rect in bars(root)][3] == "d3: 20"


def test_many_buckets_keep_the_axis_readable_and_large_numbers_are_grouped() -> None:
    labels = [f"{hour:02}:00" for hour in range(24)]
    root = parse(bar_chart("Images", labels, [1_000 * hour for hour in range(24)]))

    assert len(bars(root)) == 24
    axis_labels = [text for text in texts(root) if text.endswith(":00")]
    assert 4 <= len(axis_labels) <= 8
    assert axis_labels[0] == "00:00"
    assert "23,000" in texts(root)


def test_an_empty_chart_draws_flat_bars_and_says_so_when_it_has_no_items() -> None:
    root = parse(bar_chart("Images", ["a", "b"], [0, 0]))
    assert [float(rect.get("height", "")) for rect in bars(root)] == [0, 0]

    ranked = parse(ranked_chart("Failures by cause", []))
    assert texts(ranked) == ["none"]


def test_ranked_bars_are_proportional() -> None:
    root = parse(ranked_chart("Failures by cause", [("moderation", 8), ("timeout", 2)]))

    widths = [float(rect.get("width", "")) for rect in bars(root)]
    assert widths[0] == pytest.approx(4 * widths[1], abs=0.1)
    assert texts(root) == ["moderation", "8", "timeout", "2"]


def test_a_long_cause_is_cut_on_the_axis_and_whole_in_its_title() -> None:
    cause = "x" * 40
    root = parse(ranked_chart("Failures by cause", [(cause, 1)]))

    assert texts(root)[0] == "x" * 27 + "…"
    assert bars(root)[0].find(f"{SVG}title").text == f"{cause}: 1"


def test_a_series_must_have_a_value_per_label() -> None:
    with pytest.raises(ValueError, match="one value per label"):
        grouped_bar_chart("Credits", ["a", "b"], [("sold", [1])])
