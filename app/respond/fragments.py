"""Which question blocks of the form page may come from the fragment cache, and under what key.

A published version never changes, so the HTML of a question the client has not answered yet
(no value, no error) depends only on the version, the language, the question's number, whether it
starts shown and, when its texts hold placeholders, the client's values. Blocks without
placeholders are the same for every client of a version: respond/form.html renders them once
per worker process through Flask-Caching's `{% cache %}` tag and reuses the HTML. Blocks with
placeholders (the client's name, the product) and blocks showing an answer or an error are
rendered every time, so no client's data is ever cached. The suitability form (18 blocks) spent
about half its time rendering them (docs/perf-client.md, fifth round).
"""
from __future__ import annotations

from questionnaires.placeholders import placeholders_in

_PLACEHOLDER_FREE: dict[tuple[int, str], frozenset[str]] = {}  # per process, one entry per version in use
_PLACEHOLDER_FREE_SIZE = 256


def questions_without_placeholders(version) -> frozenset[str]:
    """Ids of the version's questions whose texts and options use no placeholder."""
    key = (version.id, version.content_hash)
    found = _PLACEHOLDER_FREE.get(key)
    if found is None:
        found = frozenset(q["id"] for q in version.definition["questions"] if not placeholders_in(q))
        if len(_PLACEHOLDER_FREE) >= _PLACEHOLDER_FREE_SIZE:
            _PLACEHOLDER_FREE.clear()  # hundreds of versions in use at once: start again
        _PLACEHOLDER_FREE[key] = found  # one dict assignment: safe between gthread threads
    return found


def is_pristine(field) -> bool:
    """True when the field shows no value and no error: its block looks the same for everyone."""
    if field is None:  # a notice
        return True
    return not field.errors and not field.raw_data and field.data in (None, "", False, [])


def cacheable_blocks(version, form) -> frozenset[str]:
    """Ids of the questions whose blocks this page may take from, or put in, the fragment cache."""
    free = questions_without_placeholders(version)
    return frozenset(qid for qid in free if is_pristine(form[qid] if qid in form else None))


def fragment_prefix(version, lang: str) -> str:
    """The part of a block's cache key that names the version (id and content) and the language."""
    return f"{version.id}-{version.content_hash}-{lang}"
