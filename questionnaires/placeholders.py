"""Placeholders `{name}` in bilingual texts, filled from an invitation's context.

`{{` and `}}` are literal braces. A placeholder is never left blank: filling a text whose value
is missing raises MissingPlaceholder, so a client never reads "尊敬的：".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
_LANGUAGE_SET = frozenset(LANGUAGES)

# Filled by the app without being passed: client_* from the client record, the rest from config.
AUTO_FILLED = frozenset({"client_name", "client_risk_level", "firm_name", "service_phone"})

_IMMUTABLE = (str, int, float, bool, type(None))

_PIECE = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}|[{}]")


class PlaceholderSyntaxError(ValueError):
    """A stray brace or a malformed `{name}`; `position` is the 0-based index of the brace."""

    def __init__(self, brace: str, position: int):
        super().__init__(
            f"stray {brace!r} at position {position} (a placeholder is {{name}} in lowercase "
            "letters, digits and _; a literal brace is {{ or }})"
        )
        self.position = position


class MissingPlaceholder(KeyError):
    """A placeholder with no value (absent, None or empty) in the context."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name

    def __str__(self):
        return f"no value for placeholder {{{self.name}}}"


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    """Yield ("text", literal) and ("name", placeholder) pieces of a template."""
    position = 0
    for match in _PIECE.finditer(text):
        if match.group() in ("{", "}"):
            raise PlaceholderSyntaxError(match.group(), match.start())
        yield "text", text[position:match.start()]
        if match.group(1):
            yield "name", match.group(1)
        else:
            yield "text", match.group()[0]
        position = match.end()
    yield "text", text[position:]


def names_in_text(text: str) -> set[str]:
    """The placeholder names in one text; raise PlaceholderSyntaxError when it is malformed."""
    return {value for kind, value in _pieces(text) if kind == "name"}


def is_bilingual(value: object) -> bool:
    """Whether `value` is a bilingual text mapping {zh-CN, en}."""
    return isinstance(value, Mapping) and value.keys() == _LANGUAGE_SET


def bilingual_texts(value: object, path: tuple = ()) -> Iterator[tuple[tuple, Mapping]]:
    """Yield (path, text) for every bilingual text in a definition, in document order."""
    if is_bilingual(value):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from bilingual_texts(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from bilingual_texts(item, path + (index,))


def placeholders_in(definition: dict) -> set[str]:
    """Every placeholder name used in any bilingual text of the definition."""
    return {
        name
        for _, text in bilingual_texts(definition)
        for language in LANGUAGES
        for name in names_in_text(text[language])
    }


def _has_value(context: Mapping[str, object], name: str) -> bool:
    value = context.get(name)
    return value is not None and str(value) != ""


def missing_placeholders(definition: dict, context: Mapping[str, object]) -> list[str]:
    """Sorted names used by the definition that have no value in `context` (auto-filled included)."""
    return sorted(name for name in placeholders_in(definition) if not _has_value(context, name))


def fill(text: str, context: Mapping[str, object]) -> str:
    """Fill the placeholders in `text`; raise MissingPlaceholder rather than leave a blank."""
    if "{" not in text and "}" not in text:  # most texts: nothing to fill, nothing to check
        return text
    filled = []
    for kind, value in _pieces(text):
        if kind == "name" and not _has_value(context, value):
            raise MissingPlaceholder(value)
        filled.append(str(context[value]) if kind == "name" else value)
    return "".join(filled)


def language_of(lang: str | None) -> str:
    """Map a requested language ("en", "en-US", "zh_Hans_CN", None...) to "en" or "zh-CN"."""
    if lang and lang.replace("_", "-").lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LANGUAGE


def localize(definition: dict, lang: str, context: Mapping[str, object]) -> dict:
    """A deep copy with every bilingual text replaced by its filled string in `lang` (else zh-CN)."""
    language = language_of(lang)

    def convert(value):
        # Strings and numbers are immutable: returned as they are (a deep copy of each was a
        # quarter of the form page's build time, docs/perf-client.md).
        if isinstance(value, _IMMUTABLE):
            return value
        if is_bilingual(value):
            return fill(value.get(language) or value[DEFAULT_LANGUAGE], context)
        if isinstance(value, Mapping):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        return copy.deepcopy(value)

    return convert(definition)
