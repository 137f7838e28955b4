"""Glyph coverage: a character the font cannot draw is an error before rendering, never a blank box.

WeasyPrint would silently fall back to another installed font, or draw a .notdef box when no
font has the glyph. On paper that is a question the client cannot read, so every text of a
letter is checked against the cmap of the one font the letters use (Noto Sans CJK SC, found
through fontconfig) and a missing character stops the build with the text that holds it.
"""
from __future__ import annotations

import functools
import subprocess
import unicodedata
from typing import Iterable

from fontTools.ttLib import TTCollection, TTFont

FONT_FAMILY = "Noto Sans CJK SC"


class MissingGlyph(ValueError):
    """A text holds a character the letter font cannot draw."""

    def __init__(self, field: str, char: str, text: str):
        name = unicodedata.name(char, "unnamed")
        super().__init__(f"{field}: the font {FONT_FAMILY} has no glyph for {char!r} "
                         f"(U+{ord(char):04X} {name}) in {text[:60]!r}")
        self.field = field
        self.char = char


class FontNotFound(RuntimeError):
    """The CJK font is not installed (scripts/system-deps.sh installs fonts-noto-cjk)."""


def font_location(family: str = FONT_FAMILY) -> tuple[str, int]:
    """(file, index in a collection) of the font fontconfig picks for the family; it must be that family."""
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}\t%{index}\t%{family}", family],
                             capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise FontNotFound(f"fontconfig could not look up {family}: {exc}") from exc
    path, index, families = (out.split("\t") + ["", "", ""])[:3]
    if family not in families.split(","):
        raise FontNotFound(f"{family} is not installed (fontconfig offers {families or 'nothing'}); "
                           "run scripts/system-deps.sh")
    return path, int(index or 0)


@functools.lru_cache(maxsize=4)
def covered_codepoints(family: str = FONT_FAMILY) -> frozenset[int]:
    """Every code point the font maps to a glyph."""
    path, index = font_location(family)
    with open(path, "rb") as handle:
        if path.lower().endswith((".ttc", ".otc")):
            font = TTCollection(handle, lazy=True).fonts[index]
        else:
            font = TTFont(handle, lazy=True)
        return frozenset(font.getBestCmap())


def _needs_glyph(char: str) -> bool:
    # Line breaks, tabs and other controls are layout, not glyphs; spaces of any width are drawn as advance.
    return not (char.isspace() or unicodedata.category(char) in ("Cc", "Cf"))


def check_texts(texts: Iterable[tuple[str, str]], family: str = FONT_FAMILY) -> None:
    """Raise MissingGlyph for the first (field, text) that holds a character the font lacks."""
    covered = covered_codepoints(family)
    for field, text in texts:
        for char in set(text or ""):
            if ord(char) not in covered and _needs_glyph(char):
                raise MissingGlyph(field, char, text)
