"""Window envelope types: where the address block must sit on an A4 letter to show in the window.

Positions are measured from the top-left corner of the A4 sheet (210 × 297 mm) as folded for the
envelope. The defaults follow DIN 5008 form B / DIN 680 windows, which the common Chinese window
envelopes (DL 220 × 110 mm, C5 229 × 162 mm) follow too; a firm whose envelopes differ sets
LETTER_ENVELOPES in the configuration (see docs/letters.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class EnvelopeWindow:
    """The window's rectangle on the unfolded A4 sheet, in millimetres."""

    key: str
    label: str
    left_mm: float
    top_mm: float
    width_mm: float
    height_mm: float

    def contains(self, left_mm: float, top_mm: float, right_mm: float, bottom_mm: float,
                 tolerance_mm: float = 0.05) -> bool:
        """True when the rectangle lies wholly inside the window (measurements from PDF points round)."""
        t = tolerance_mm
        return (left_mm >= self.left_mm - t and top_mm >= self.top_mm - t
                and right_mm <= self.left_mm + self.width_mm + t and bottom_mm <= self.top_mm + self.height_mm + t)


DEFAULT_ENVELOPES: dict[str, EnvelopeWindow] = {
    # DL: A4 folded in three (Z-fold, 99 mm panels); window 90 × 45 mm, 20 mm from the left.
    "dl": EnvelopeWindow("dl", "DL 220×110 mm, window left", 20, 45, 85, 40),
    # C5: A4 folded once (148.5 mm); the window sits a little lower on the taller envelope.
    "c5": EnvelopeWindow("c5", "C5 229×162 mm, window left", 20, 50, 90, 45),
}


def envelopes_from(config: Mapping[str, Mapping] | None) -> dict[str, EnvelopeWindow]:
    """The default envelopes with any configured ones added or replaced ({key: {left_mm, ...}})."""
    envelopes = dict(DEFAULT_ENVELOPES)
    for key, values in (config or {}).items():
        envelopes[key] = EnvelopeWindow(key=key, label=str(values.get("label", key)),
                                        left_mm=float(values["left_mm"]), top_mm=float(values["top_mm"]),
                                        width_mm=float(values["width_mm"]), height_mm=float(values["height_mm"]))
    return envelopes
