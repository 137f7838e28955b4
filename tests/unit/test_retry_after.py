"""A receiver's Retry-After header: seconds or an HTTP date, and nothing else taken as either."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.webhooks.sender import parse_retry_after

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),
    (" 30 ", 30.0),
    ("Wed, 25 Nov 2026 08:01:00 GMT", 60.0),
    ("Wed, 25 Nov 2026 07:00:00 GMT", 0.0),  # a time already past: no wait
    (None, None),
    ("", None),
    ("soon", None),
    ("-5", None),
    ("²", None),  # a digit to str.isdigit (and Latin-1, so a header can carry it), not to float()
    ("１２０", None),  # full-width digits: not the ASCII the header's grammar allows
])
def test_retry_after_is_read_as_seconds_or_a_date_and_anything_else_is_none(header, seconds):
    assert parse_retry_after(header, now=NOW) == seconds
