"""Refusals in two languages: English where they are kept or sent to machines, the reader's on pages.

A service refuses with `InvalidRequest("username", phrase("'%(name)s' is taken", name=name))`.
The phrase IS the English text (a str), so everything that keeps or sends it (the audit log, the
API's JSON, a job's last error, the worker's log) stays in one language and reads as before. A page
shows `localized(message)`: the same sentence from the zh-CN catalog when the reader reads Chinese.

Why not Flask-Babel's lazy_gettext: a lazy string takes the language of whoever turns it into text,
so the API's JSON and the audit log would change language with the caller's Accept-Language.
`make translations` extracts `phrase(...)` calls (the Makefile's `-k phrase`).
"""
from __future__ import annotations

from flask_babel import gettext


class Phrase(str):
    """An English sentence (this str) that also knows its catalog entry and values."""

    template: str
    params: dict

    def __new__(cls, template: str, **params) -> "Phrase":
        text = super().__new__(cls, template % params if params else template)
        text.template, text.params = template, params
        return text

    def localized(self) -> str:
        """This sentence in the current request's language (English when the catalog lacks it)."""
        if not self.params:
            return gettext(self.template)
        # A value may itself be a phrase ("letter %(code)s: %(reason)s"): it reads in the same language.
        return gettext(self.template, **{name: localized(value) for name, value in self.params.items()})


class Bilingual(str):
    """Text that brings its own translations ({"zh-CN", "en"}, as the answer checker gives its
    reasons), not the catalog's: the English as this str, the reader's language on a page."""

    texts: dict

    def __new__(cls, texts: dict) -> "Bilingual":
        text = super().__new__(cls, texts["en"])
        text.texts = texts
        return text

    def __getnewargs__(self):  # pickling: str's own would pass the English text alone
        return (self.texts,)

    def localized(self) -> str:
        """The text in the current request's language."""
        from app.i18n import current_lang  # app.i18n imports this module for its template filter

        return self.texts.get(current_lang()) or self.texts["en"]


def phrase(template: str, **params) -> Phrase:
    """A refusal's reason, in English now and translatable on a page; values as %(name)s."""
    return Phrase(template, **params)


def with_field(field: str, reason: str) -> Phrase:
    """"field: reason", for a page with no form field to put the reason under (an error page)."""
    return phrase("%(field)s: %(reason)s", field=field, reason=reason)


def localized(message: str) -> str:
    """A message for a page: a phrase in the reader's language, any other text as it is."""
    return message.localized() if isinstance(message, (Phrase, Bilingual)) else message
