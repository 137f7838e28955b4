"""Forms of the client's side; the questionnaire form itself is built from the pinned version."""
from __future__ import annotations

import threading

from babel import support
from flask import current_app
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, Length

from questionnaires.forms import build_form_class

_WTFORMS_TRANSLATIONS: dict[str, support.Translations] = {}


class ClientForm(FlaskForm):
    """FlaskForm whose WTForms message catalog is loaded once per process and locale.

    Flask-WTF reads and parses WTForms' .mo file from disk again in every request that validates
    a form; the catalog never changes while the process runs, and a Translations object is only
    read, so sharing it between threads is safe.
    """

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            locale = str(get_locale())
            found = _WTFORMS_TRANSLATIONS.get(locale)
            if found is None:
                found = support.Translations.load(messages_path(), [locale], domain="wtforms")
                _WTFORMS_TRANSLATIONS[locale] = found
            return found


class IdentityForm(ClientForm):
    """The identity check asked before the first question."""

    answer = StringField(validators=[DataRequired(), Length(max=20)])


def questionnaire_form_class(version, lang: str, context: dict) -> type:
    """The WTForms class for a version in a language with the invitation's placeholder values.

    Versions are immutable, so the class (and its localized `questions`) is cached by version,
    language and placeholder values: a client's GET of the form and the POST that follows build
    it once (docs/perf-client.md).
    """
    key = (version.id, version.content_hash, lang, tuple(sorted(context.items())))
    cached = _FORM_CLASSES.get(key)
    if cached is None:
        cached = build_form_class(version.definition, lang, context, base=ClientForm)
        with _FORM_CLASSES_LOCK:  # gthread workers: several requests per process at once
            _FORM_CLASSES[key] = cached
            while len(_FORM_CLASSES) > _FORM_CLASS_CACHE_SIZE:
                del _FORM_CLASSES[next(iter(_FORM_CLASSES))]  # oldest first
    return cached


# Per process; at most a few hundred small classes. Placeholder values (client names) stay in
# memory no longer than the cache keeps them and are never written anywhere.
_FORM_CLASS_CACHE_SIZE = 512
_FORM_CLASSES: dict = {}
_FORM_CLASSES_LOCK = threading.Lock()
