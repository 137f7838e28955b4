"""Turning a stored definition (and answers) into what the console shows; plain Python, no Flask.

Texts are picked in one language; the preview keeps `{placeholders}` visible (the template marks
them up), the answered view fills them from the invitation's context as the client saw them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from markupsafe import Markup, escape

from questionnaires.answers import Flag, flags_for, visible_questions
from questionnaires.placeholders import MissingPlaceholder, PlaceholderSyntaxError, fill, language_of

# The same grammar as questionnaires.placeholders: {{ and }} are literal braces.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}")
CHOICE_TYPES = ("single_choice", "multiple_choice", "yes_no")


def pick(text: Optional[Mapping], lang: str) -> str:
    """One language of a bilingual text ('' when there is none)."""
    if not text:
        return ""
    return text.get(language_of(lang)) or text.get("zh-CN") or ""


def fill_or_raw(text: str, context: Mapping[str, object]) -> str:
    """The text with its placeholders filled; unfilled when a value is missing (never a blank)."""
    try:
        return fill(text, context)
    except (MissingPlaceholder, PlaceholderSyntaxError):
        return text


def mark_placeholders(text: str) -> Markup:
    """Escaped text with each `{name}` wrapped in <code class="ph"> so reviewers see what is filled in."""
    out, position = [], 0
    for match in _PLACEHOLDER.finditer(text or ""):
        out.append(escape(text[position:match.start()]))
        if match.group(1):
            out.append(Markup('<code class="ph">{%s}</code>') % match.group(1))
        else:
            out.append(escape(match.group()))
        position = match.end()
    out.append(escape((text or "")[position:]))
    return Markup("").join(out)


def compact_json(value: object) -> str:
    """A value as short, readable JSON (Chinese kept as is) for the diff table."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1 if isinstance(value, (dict, list)) else None)


@dataclass
class PreviewOption:
    value: str
    label: str
    flag: Optional[dict] = None  # {"severity", "label"} in the chosen language


@dataclass
class PreviewQuestion:
    """One question as a reviewer of the definition sees it."""

    id: str
    type: str
    number: Optional[int]  # None for notices, which are not numbered (as on the form)
    text: str
    help: str
    required: bool
    show_if: Optional[str]
    options: list[PreviewOption] = field(default_factory=list)
    rules: list[tuple[str, object]] = field(default_factory=list)  # (rule name, value)
    rating_flag: Optional[dict] = None  # flag_at_or_below in the chosen language
    scale: Optional[int] = None
    min_label: str = ""
    max_label: str = ""


_RULES = ("min", "max", "min_length", "max_length", "pattern", "min_choices", "max_choices", "integer", "multiline")


def preview(definition: dict, lang: str) -> dict:
    """The definition in one language, questions numbered, flags and conditions spelled out."""
    questions, number = [], 0
    for q in definition["questions"]:
        if q["type"] != "notice":
            number += 1
        options = [
            PreviewOption(o["value"], pick(o["label"], lang),
                          {"severity": o["flag"]["severity"], "label": pick(o["flag"]["label"], lang)}
                          if o.get("flag") else None)
            for o in q.get("options", [])
        ]
        rule = q.get("flag_at_or_below")
        questions.append(PreviewQuestion(
            id=q["id"], type=q["type"], number=number if q["type"] != "notice" else None,
            text=pick(q["text"], lang), help=pick(q.get("help"), lang),
            required=bool(q.get("required", True)) and q["type"] != "notice", show_if=q.get("show_if"),
            options=options, rules=[(name, q[name]) for name in _RULES if q.get(name) is not None and q.get(name) is not False],
            rating_flag={"value": rule["value"], "severity": rule["severity"], "label": pick(rule["label"], lang)}
            if rule else None,
            scale=q.get("scale") if q["type"] == "rating" else None,
            min_label=pick(q.get("min_label"), lang), max_label=pick(q.get("max_label"), lang),
        ))
    return {
        "title": pick(definition["title"], lang),
        "intro": pick(definition.get("intro"), lang),
        "closing": pick(definition.get("closing"), lang),
        "identity_check": definition["identity_check"],
        "review_type": definition["review_type"],
        "questions": questions,
    }


@dataclass
class AnsweredQuestion:
    """One shown question with the answer given, in one language."""

    id: str
    type: str
    number: Optional[int]
    text: str
    answered: bool
    answer: list[str]  # option labels, or the one value written out
    values: list[str]  # the stored option values (choice types), for reference
    flags: list[dict]  # {"severity", "label"} raised by this answer


def _answer_lines(q: dict, answer: object, lang: str) -> tuple[list[str], list[str]]:
    if q["type"] in CHOICE_TYPES:
        chosen = answer if isinstance(answer, list) else [answer]
        labels = {o["value"]: pick(o["label"], lang) for o in q.get("options", [])}
        return [labels.get(v, str(v)) for v in chosen], [str(v) for v in chosen]
    if q["type"] == "rating":
        return [f"{answer} / {q.get('scale', 5)}"], []
    if q["type"] == "consent":
        return [], []  # the template says "acknowledged"
    return [str(answer)], []


def answered(definition: dict, answers: Mapping[str, object], lang: str,
             context: Mapping[str, object]) -> list[AnsweredQuestion]:
    """Every question the client was shown, numbered as on the form, with answers and flags."""
    numbers, number = {}, 0
    for q in definition["questions"]:
        if q["type"] != "notice":
            number += 1
            numbers[q["id"]] = number
    flags: dict[str, list[Flag]] = {}
    for flag in flags_for(definition, answers):
        flags.setdefault(flag.question_id, []).append(flag)
    shown = []
    for q in visible_questions(definition, answers):
        given = q["id"] in answers and answers[q["id"]] not in (None, "", [])
        lines, values = _answer_lines(q, answers[q["id"]], lang) if given else ([], [])
        shown.append(AnsweredQuestion(
            id=q["id"], type=q["type"], number=numbers.get(q["id"]),
            text=fill_or_raw(pick(q["text"], lang), context), answered=given, answer=lines, values=values,
            flags=[{"severity": f.severity, "label": pick(f.label, lang)} for f in flags.get(q["id"], [])],
        ))
    return shown
