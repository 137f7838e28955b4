"""Text refused at the door: the NUL character (U+0000).

PostgreSQL stores no NUL in text or JSONB ("text fields cannot contain NUL (0x00) bytes"), so a
NUL in a client's name, an answer or a lookup key failed inside the transaction: a 500 on
PostgreSQL, while SQLite stored it and handed it on to exports and PDFs. No person types one.
Both databases now refuse it the same way, before any route runs, naming where it was.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from flask import Flask, request

from app.errors import abort_with

NUL = "\x00"
# No name a person gives (a user, an API key, a display name) holds a control character: a newline
# in one would start a new line in logs and CSV exports, and break a header it reaches.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def is_plain_name(text: str, longest: int) -> bool:
    """Whether a (stripped) name has 1 to `longest` characters and no control character."""
    return 0 < len(text) <= longest and not CONTROL_CHARACTERS.search(text)


def first_nul_line(text: str) -> Optional[int]:
    """The 1-based line of the first NUL in a file's text, or None."""
    at = text.find(NUL)
    return None if at < 0 else text.count("\n", 0, at) + 1


def _json_texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every key and string in a JSON document, with its path (clients[2].name)."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_texts(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            yield path, str(key)
            yield from _json_texts(item, path)


def _request_texts() -> Iterator[tuple[str, str]]:
    """The request's path, query, form fields and JSON strings, each with the name of its field."""
    yield "path", request.path
    yield from request.args.items(multi=True)
    yield from ((f"{name}(name)", name) for name in request.args)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        yield from request.form.items(multi=True)
        yield from ((f"{name}(name)", name) for name in request.form)
    elif request.is_json:
        yield from _json_texts(request.get_json(silent=True), "")


def register(app: Flask) -> None:
    """Refuse any request whose text holds a NUL, with 400 and the field."""

    @app.before_request
    def _refuse_nul():
        for field, text in _request_texts():
            if NUL in text:
                abort_with(400, f"{field or 'body'}: contains a NUL character (U+0000)", field=field or "body")
