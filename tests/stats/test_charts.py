"""The server-drawn SVG charts: a name and the data for screen readers, bars scaled to the peak."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.stats.charts import Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"
BARS = [Bar("是", 30, "30 · 75.0%"), Bar("否 <staff>", 10, "10 · 25.0%", flagged=True)]


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@pytest.mark.parametrize("kwargs, name", [
    ({"title": "近三年回访完成率"}, "近三年回访完成率"),
    ({"name": "您是否本人操作账户？"}, "您是否本人操作账户？"),
    ({"title": "Drawn title", "name": "ignored"}, "Drawn title"),
])
def test_the_chart_is_named_by_its_title_or_name(kwargs, name):
    root = parsed(bar_chart(BARS, **kwargs))

    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == name


def test_the_description_gives_every_bar_and_its_figure():
    desc = parsed(bar_chart(BARS, name="q")).find(f"{SVG}desc").text

    assert desc == "是: 30 · 75.0%; 否 <staff>: 10 · 25.0%"


def test_only_a_given_title_is_drawn_as_text():
    texts = [t.text for t in parsed(bar_chart(BARS, name="not drawn")).iter(f"{SVG}text")]

    assert "not drawn" not in texts and "是" in texts


def test_bars_are_scaled_to_the_largest_value():
    rects = [r for r in parsed(bar_chart(BARS, name="q")).iter(f"{SVG}rect") if r.get("fill") != "#eef1f5"]
    widths = [float(r.get("width")) for r in rects if r.get("width") != "6"]

    assert widths[0] == pytest.approx(3 * widths[1])


def test_each_chart_on_a_page_has_its_own_hatch_pattern():
    charts = [parsed(bar_chart(BARS, name=f"q{n}")) for n in range(2)]
    ids = [chart.find(f"{SVG}defs/{SVG}pattern").get("id") for chart in charts]
    fills = [{r.get("fill") for r in chart.iter(f"{SVG}rect") if r.get("fill", "").startswith("url(")} for chart in charts]

    assert ids[0] != ids[1]
    assert fills == [{f"url(#{ids[0]})"}, {f"url(#{ids[1]})"}]


def test_a_chart_without_flagged_bars_defines_no_pattern():
    chart = parsed(bar_chart([Bar("是", 30, "30 · 75.0%")], name="q"))

    assert chart.find(f"{SVG}defs") is None
