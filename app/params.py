"""Row ids and version numbers read from URLs, query strings and forms.

Every id column is an INTEGER: 32 bits on PostgreSQL, 64 on SQLite. A larger number typed into
a URL or a field cannot name a row, and sent to the database it fails there (SQLite raises
OverflowError, PostgreSQL "integer out of range"): a 500 instead of the 404 or 422 it is.
"""
from __future__ import annotations

from typing import Optional

from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int:
    """The text as a whole number from 1 to MAX_ROW_ID; ValueError for anything else, as int() does."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or not 1 <= int(text) <= MAX_ROW_ID:
        raise ValueError(f"not a row id: {text[:20]!r}")
    return int(text)


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
