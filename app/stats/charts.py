"""Server-drawn SVG bar charts: no JavaScript, crisp in print and in WeasyPrint PDFs.

Horizontal bars: long Chinese answer labels fit on the left, the count and share are printed
at the end of each bar (so the chart reads in black and white, without relying on colour), and
a flagged answer gets a hatched bar as well as a different colour.
"""
from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from typing import Optional
from xml.sax.saxutils import escape

FONT = "'Noto Sans CJK SC', 'Noto Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"
BAR = "#0b4f9c"
BAR_FLAGGED = "#b00020"
TRACK = "#eef1f5"
INK = "#1a1a1a"
MUTED = "#555555"
# Each chart's hatch pattern gets its own id: a page (the statistics page, a report) holds several
# inline charts, and an id may occur once per document (HTML; WeasyPrint warns "Anchor defined twice").
_pattern_numbers = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value and the text printed after it."""

    label: str
    value: float
    note: str = ""
    flagged: bool = False


def text_width(text: str, size: float) -> float:
    """Approximate rendered width: CJK and full-width characters take 1 em, others ~0.58 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.58 for ch in text)


def fit(text: str, size: float, width: float) -> str:
    """The text, shortened with an ellipsis so it fits the width."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def bar_chart(bars: list[Bar], *, title: Optional[str] = None, width: int = 640, max_value: Optional[float] = None,
              label_width: Optional[int] = None, font_size: int = 13, bar_height: int = 20, gap: int = 8,
              name: Optional[str] = None) -> str:
    """An SVG document (string) with one horizontal bar per item, scaled to the largest value.

    Its accessible name is the title, or `name` when no title is drawn; its description lists
    every bar's label and figure, so a screen reader gets the data the bars show (WCAG 1.1.1)."""
    top = 30 if title else 6
    longest = max((text_width(b.label, font_size) for b in bars), default=40)
    label_w = label_width or int(min(max(longest + 10, 60), width * 0.38))
    note_w = int(max((text_width(b.note, font_size - 1) for b in bars), default=0) + 12)
    plot_w = max(width - label_w - note_w - 8, 60)
    height = top + len(bars) * (bar_height + gap) + 6
    peak = max_value if max_value is not None else max((b.value for b in bars), default=0)
    peak = peak or 1
    hatch = f"hatch-{next(_pattern_numbers)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="{escape(FONT)}" font-size="{font_size}">',
        f"<title>{escape(title or name or '')}</title>",
        f"<desc>{escape('; '.join(f'{b.label}: {b.note or b.value}' for b in bars))}</desc>",
    ]
    if any(b.flagged for b in bars):
        parts.append(f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
                     f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{BAR_FLAGGED}"/>'
                     '<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2" stroke-opacity="0.55"/>'
                     '</pattern></defs>')
    if title:
        parts.append(f'<text x="0" y="18" font-weight="700" font-size="{font_size + 1}" fill="{INK}">'
                     f"{escape(fit(title, font_size + 1, width))}</text>")
    for i, b in enumerate(bars):
        y = top + i * (bar_height + gap)
        mid = y + bar_height / 2 + font_size * 0.36
        length = 0 if b.value <= 0 else max(plot_w * b.value / peak, 1.5)
        fill = f"url(#{hatch})" if b.flagged else BAR
        parts.append(f'<text x="{label_w - 8}" y="{mid:.1f}" text-anchor="end" fill="{INK}">'
                     f"{escape(fit(b.label, font_size, label_w - 10))}</text>")
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_height}" fill="{TRACK}"/>')
        if length:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{fill}"/>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{mid:.1f}" fill="{MUTED}" '
                     f'font-size="{font_size - 1}">{escape(b.note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def percent(share: Optional[float]) -> str:
    """0.1234 -> '12.3%'; None -> '—'."""
    return "—" if share is None else f"{share * 100:.1f}%"
