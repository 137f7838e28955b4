"""The status's problems in words, outside a request (`flask status`, the alert e-mails)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import current_app, get_template_attribute
from flask_babel import refresh


@contextmanager
def in_language(lang: str) -> Iterator[None]:
    """Translate (gettext, console_dt) into lang ('zh-CN' or 'en') inside the block."""
    # A request context is what Flask-Babel picks the locale from (app.i18n reads ?lang=). It keeps
    # the locale it picked in the app context, which an outer one (the worker's) shares with this
    # block: refresh() makes it pick again here, and again for the code after the block.
    try:
        with current_app.test_request_context(f"/?lang={lang}"):
            refresh()
            yield
    finally:
        refresh()


def problem_messages(problems, lang: str) -> list[str]:
    """Each problem in words: the status page's own sentences (status/_problems.html), in lang."""
    # The page's macro, not a second set of sentences: one wording, translated once.
    with in_language(lang):
        text = get_template_attribute("status/_problems.html", "problem_text")
        return [" ".join(str(text(problem)).split()) for problem in problems]
