"""Checking a client's answers against a definition, and finding the answers that are flagged.

This is the one place answers are validated: the web form has no validators of its own.
`definition` is a normalized definition as returned by questionnaires.loader.
"""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from .expressions import parse

# Form keys that are not answers.
_IGNORED_KEYS = {"csrf_token"}

_CONSENT_VALUES = {"y", "on", "true", "yes", "1"}
_NUMBER = re.compile(r"[+-]?[0-9]{1,30}(\.[0-9]{1,30})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_MESSAGES = {
    "required": ("请回答此问题。", "Please answer this question."),
    "must_consent": ("请阅读并确认后继续。", "Please read and confirm to continue."),
    "not_an_option": ("请从给出的选项中选择。", "Please choose one of the given options."),
    "too_few_choices": ("请至少选择{min}项。", "Please choose at least {min} options."),
    "too_many_choices": ("最多只能选择{max}项。", "Please choose at most {max} options."),
    "not_text": ("请输入文字。", "Please enter text."),
    "too_short": ("请至少输入{min}个字。", "Please enter at least {min} characters."),
    "too_long": ("最多只能输入{max}个字。", "Please enter at most {max} characters."),
    "pattern": ("格式不正确，请检查。", "This is not in the expected format."),
    "not_a_number": ("请输入数字。", "Please enter a number."),
    "not_an_integer": ("请输入整数。", "Please enter a whole number."),
    "below_min": ("不能小于{min}。", "Please enter {min} or more."),
    "above_max": ("不能大于{max}。", "Please enter {max} or less."),
    "not_a_date": ("请输入有效日期（年-月-日）。", "Please enter a valid date (YYYY-MM-DD)."),
    "date_below_min": ("日期不能早于{min}。", "Please enter a date on or after {min}."),
    "date_above_max": ("日期不能晚于{max}。", "Please enter a date on or before {max}."),
    "unknown_question": ("问卷中没有这个问题。", "This questionnaire has no such question."),
}


@dataclass(frozen=True)
class AnswerError:
    """A problem with one answer; `message` is bilingual {"zh-CN": ..., "en": ...}."""

    question_id: str
    code: str
    message: dict


@dataclass(frozen=True)
class Flag:
    """An answer that marks the response as an exception (T/SAC 002—2024, 8.4)."""

    question_id: str
    value: object
    severity: str
    label: dict


class _Invalid(Exception):
    def __init__(self, code: str, message_key: str | None = None, **params):
        super().__init__(code)
        self.code = code
        self.message_key = message_key or code
        self.params = params


def _error(question_id: str, code: str, message_key: str | None = None, **params) -> AnswerError:
    zh, en = _MESSAGES[message_key or code]
    return AnswerError(question_id, code, {"zh-CN": zh.format(**params), "en": en.format(**params)})


def _is_blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == [] or value == ()


def _option_values(question: dict) -> list[str]:
    if question["type"] == "yes_no" and not question.get("options"):
        return ["yes", "no"]
    return [option["value"] for option in question.get("options", [])]


def _parse_choice(question: dict, value: object) -> str:
    if not isinstance(value, str) or value not in _option_values(question):
        raise _Invalid("not_an_option")
    return value


def _parse_choices(question: dict, value: object) -> list[str]:
    chosen = [value] if isinstance(value, str) else value
    if not isinstance(chosen, (list, tuple)) or not all(isinstance(v, str) for v in chosen):
        raise _Invalid("not_an_option")
    options = _option_values(question)
    if any(v not in options for v in chosen):
        raise _Invalid("not_an_option")
    chosen = [option for option in options if option in chosen]
    fewest, most = question.get("min_choices", 1), question.get("max_choices", len(options))
    if len(chosen) < fewest:
        raise _Invalid("too_few_choices", min=fewest)
    if len(chosen) > most:
        raise _Invalid("too_many_choices", max=most)
    return chosen


def _parse_text(question: dict, value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("not_text")
    # Browsers send textarea line breaks as CRLF; count them as one character.
    text = value.replace("\r\n", "\n").strip()
    if len(text) < question.get("min_length", 0):
        raise _Invalid("too_short", min=question["min_length"])
    if len(text) > question.get("max_length", 2000):
        raise _Invalid("too_long", max=question.get("max_length", 2000))
    if question.get("pattern") and not re.fullmatch(question["pattern"], text):
        raise _Invalid("pattern")
    return text


def _to_number(value: object) -> int | float:
    if isinstance(value, bool):
        raise _Invalid("not_a_number")
    if isinstance(value, str):
        # NFKC turns full-width digits typed with a Chinese input method into ASCII.
        text = unicodedata.normalize("NFKC", value).strip()
        if not _NUMBER.fullmatch(text):
            raise _Invalid("not_a_number")
        value = float(text) if "." in text else int(text)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Invalid("not_a_number")
    return int(value) if value == int(value) else value


def _parse_number(question: dict, value: object) -> int | float:
    number = _to_number(value)
    if question.get("integer") and not isinstance(number, int):
        raise _Invalid("not_an_integer")
    if question.get("min") is not None and number < question["min"]:
        raise _Invalid("below_min", min=question["min"])
    if question.get("max") is not None and number > question["max"]:
        raise _Invalid("above_max", max=question["max"])
    return number


def _to_iso_date(value: object) -> str:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise _Invalid("not_a_date")
    # NFKC, as for numbers: a date typed without the date picker may come in full-width digits.
    text = unicodedata.normalize("NFKC", value).strip()
    # fromisoformat alone would also take "20240101" and week dates.
    if not _ISO_DATE.fullmatch(text):
        raise _Invalid("not_a_date")
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise _Invalid("not_a_date") from None


def _parse_date(question: dict, value: object) -> str:
    date = _to_iso_date(value)
    # ISO dates compare correctly as strings.
    if question.get("min") and date < question["min"]:
        raise _Invalid("below_min", "date_below_min", min=question["min"])
    if question.get("max") and date > question["max"]:
        raise _Invalid("above_max", "date_above_max", max=question["max"])
    return date


def _parse_rating(question: dict, value: object) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("not_an_option")
    if not 1 <= value <= question.get("scale", 5):
        raise _Invalid("not_an_option")
    return value


def _parse_consent(question: dict, value: object) -> bool | None:
    if value is True or (isinstance(value, str) and value.strip().lower() in _CONSENT_VALUES):
        return True
    return None


_PARSERS = {
    "single_choice": _parse_choice,
    "yes_no": _parse_choice,
    "multiple_choice": _parse_choices,
    "text": _parse_text,
    "number": _parse_number,
    "date": _parse_date,
    "rating": _parse_rating,
    "consent": _parse_consent,
}


def _raw_value(question: dict, raw: Mapping[str, object]) -> object:
    """The raw answer for `question`; accepts plain mappings and MultiDicts alike."""
    key = question["id"]
    if question["type"] == "multiple_choice" and hasattr(raw, "getlist"):
        return raw.getlist(key)
    value = raw.get(key)
    # request.form.to_dict(flat=False) wraps every value in a list.
    if question["type"] != "multiple_choice" and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _parse(question: dict, raw: Mapping[str, object]) -> object:
    """The clean value of the answer to `question`, None when unanswered; raise _Invalid."""
    value = _raw_value(question, raw)
    if _is_blank(value):
        return None
    return _PARSERS[question["type"]](question, value)


def _is_answerable(question: dict) -> bool:
    return question["type"] in _PARSERS


def _is_shown(question: dict, answers: Mapping[str, object]) -> bool:
    return "show_if" not in question or parse(question["show_if"]).evaluate(answers)


def _unknown_keys(definition: dict, raw: Mapping[str, object]) -> list[AnswerError]:
    answerable = {q["id"] for q in definition["questions"] if _is_answerable(q)}
    return [
        _error(key, "unknown_question")
        for key in raw
        if key not in answerable and key not in _IGNORED_KEYS and not str(key).startswith("_")
    ]


def _missing_error(question: dict) -> AnswerError | None:
    if question["type"] == "consent":
        return _error(question["id"], "must_consent")
    if question.get("required", True):
        return _error(question["id"], "required")
    return None


def validate_answers(definition: dict, raw: Mapping[str, object]) -> tuple[dict, list[AnswerError]]:
    """Check raw answers; return the clean typed answers (hidden questions dropped) and the errors."""
    clean: dict = {}
    errors = _unknown_keys(definition, raw)
    for question in definition["questions"]:
        # `clean` holds only earlier, shown answers, so a hidden question reads as unanswered.
        if not _is_answerable(question) or not _is_shown(question, clean):
            continue
        try:
            value = _parse(question, raw)
        except _Invalid as invalid:
            errors.append(_error(question["id"], invalid.code, invalid.message_key, **invalid.params))
            continue
        if value is not None:
            clean[question["id"]] = value
        elif (error := _missing_error(question)) is not None:
            errors.append(error)
    return clean, errors


def clean_partial(definition: dict, raw: Mapping[str, object]) -> dict:
    """Keep whatever answers parse (for drafts saved before submitting); never raises, no required checks."""
    # Answers to currently hidden questions are kept: the client may still change the answer
    # that hides them. validate_answers drops them on submit.
    clean = {}
    for question in definition.get("questions", []):
        if not _is_answerable(question):
            continue
        try:
            value = _parse(question, raw)
        except (_Invalid, TypeError, ValueError, KeyError):
            continue
        if value is not None:
            clean[question["id"]] = value
    return clean


def visible_questions(definition: dict, answers: Mapping[str, object]) -> list[dict]:
    """The questions (notices too) whose show_if holds for clean `answers`, in order.

    An answer to a hidden question counts as unanswered, so it cannot show later questions.
    """
    shown, seen = [], {}
    for question in definition["questions"]:
        if _is_shown(question, seen):
            shown.append(question)
            if question["id"] in answers:
                seen[question["id"]] = answers[question["id"]]
    return shown


def _flags_of(question: dict, answer: object) -> list[Flag]:
    if question["type"] == "rating":
        rule = question.get("flag_at_or_below")
        if rule and isinstance(answer, int) and answer <= rule["value"]:
            return [Flag(question["id"], answer, rule["severity"], rule["label"])]
        return []
    chosen = answer if isinstance(answer, list) else [answer]
    return [
        Flag(question["id"], option["value"], option["flag"]["severity"], option["flag"]["label"])
        for option in question.get("options", [])
        if "flag" in option and option["value"] in chosen
    ]


def flags_for(definition: dict, answers: Mapping[str, object]) -> list[Flag]:
    """The flags raised by the answers to the visible questions, in question order."""
    return [
        flag
        for question in visible_questions(definition, answers)
        if question["id"] in answers
        for flag in _flags_of(question, answers[question["id"]])
    ]
