"""Row ids and version numbers read from URLs, query strings and forms.

Every id column is an INTEGER: 32 bits on PostgreSQL, 64 on SQLite. A larger number typed into
a URL or a field cannot name a row, and sent to the database it fails there (SQLite raises
OverflowError, PostgreSQL "integer out of range"): a 500 instead of the 404 or 422 it is.
"""
from __future__ import annotations

from typing import Optional

from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**31 - 1


def whole_number(text: str, low: int, high: Optional[int] = None) -> int:
    """The text as a whole number from low to high; ValueError for anything else, as int() does.

    ASCII digits only: int() also takes signs, underscores and other scripts' digits ("٣").
    """
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"not a whole number: {text[:20]!r}")
    value = int(text)  # past 4,300 digits int() itself raises ValueError
    if value < low or (high is not None and value > high):
        raise ValueError(f"{value} is not from {low} to {high}")
    return value


def row_id(text: str) -> int:
    """The text as a whole number from 1 to MAX_ROW_ID; ValueError for anything else."""
    return whole_number(text, 1, MAX_ROW_ID)


def optional_row_id(text: Optional[str]) -> Optional[int]:
    """row_id of the text, or None when it is missing, empty or not a row id."""
    try:
        return row_id(text or "")
    except ValueError:
        return None


class RowIdConverter(IntegerConverter):
    """`<int:…>` in this app's URLs: an id or a version number, so at most MAX_ROW_ID (else 404)."""

    def __init__(self, url_map, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, **kwargs)
