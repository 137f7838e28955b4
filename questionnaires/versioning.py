"""Identifying and comparing published versions of a definition."""

from __future__ import annotations

import hashlib
import json

# Lists whose items are matched by a field rather than by position, so that inserting a
# question reports one addition instead of a change to every later question.
_MATCH_BY = {"questions": "id", "options": "value"}


def canonical_json(definition: dict) -> str:
    """The definition as JSON with sorted keys and no spaces: equal content, equal text."""
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(definition: dict) -> str:
    """"sha256:" and the hex digest of the canonical JSON, to recognize identical content."""
    return "sha256:" + hashlib.sha256(canonical_json(definition).encode("utf-8")).hexdigest()


def diff_definitions(old: dict, new: dict) -> list[dict]:
    """Changes as {"kind": "added"|"removed"|"changed", "path", "old", "new"}; items matched by id/value.

    Paths read like "questions[id=own_intent].options[value=no].flag.severity"; a changed order of
    questions or options is reported at "questions[order]" with the lists of ids (or values).
    """
    return list(_diff(old, new, ""))


def _change(kind: str, path: str, old=None, new=None) -> dict:
    return {"kind": kind, "path": path, "old": old, "new": new}


def _diff(old, new, path: str):
    if isinstance(old, dict) and isinstance(new, dict):
        yield from _diff_mappings(old, new, path)
    elif isinstance(old, list) and isinstance(new, list) and (field := _keyed_by(old, new, path)):
        yield from _diff_keyed(old, new, path, field)
    elif old != new or type(old) is not type(new):
        yield _change("changed", path, old, new)


def _diff_mappings(old: dict, new: dict, path: str):
    for key in old:
        child = f"{path}.{key}" if path else key
        if key not in new:
            yield _change("removed", child, old=old[key])
        else:
            yield from _diff(old[key], new[key], child)
    for key in new:
        if key not in old:
            yield _change("added", f"{path}.{key}" if path else key, new=new[key])


def _keyed_by(old: list, new: list, path: str) -> str | None:
    """The field that identifies items of this list, if every item has a distinct one."""
    field = _MATCH_BY.get(path.rsplit(".", 1)[-1])
    if field is None:
        return None
    for items in (old, new):
        keys = [item.get(field) if isinstance(item, dict) else None for item in items]
        if None in keys or len(set(keys)) != len(keys):
            return None
    return field


def _diff_keyed(old: list, new: list, path: str, field: str):
    old_by_key = {item[field]: item for item in old}
    new_by_key = {item[field]: item for item in new}
    for key, item in old_by_key.items():
        child = f"{path}[{field}={key}]"
        if key not in new_by_key:
            yield _change("removed", child, old=item)
        else:
            yield from _diff(item, new_by_key[key], child)
    for key, item in new_by_key.items():
        if key not in old_by_key:
            yield _change("added", f"{path}[{field}={key}]", new=item)
    old_order = [key for key in old_by_key if key in new_by_key]
    new_order = [key for key in new_by_key if key in old_by_key]
    if old_order != new_order:
        # Reordering is a change of its own: it can change what show_if may refer to.
        yield _change("changed", f"{path}[order]", old_order, new_order)
