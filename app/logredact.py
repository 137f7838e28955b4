"""Keep bearer secrets out of logs: signed link tokens and short codes are redacted from paths."""
from __future__ import annotations

import re

# itsdangerous tokens: payload.timestamp.signature in URL-safe base64.
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{10,}")
_SHORT = re.compile(r"(/s/)[^/?#\s]+")


def redact(text: str) -> str:
    """The text with link tokens and short codes replaced by [redacted]."""
    return _SHORT.sub(r"\1[redacted]", _TOKEN.sub("[redacted]", text))
