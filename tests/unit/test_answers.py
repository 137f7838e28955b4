"""questionnaires.answers: validating answers, visibility and flags."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from questionnaires.answers import AnswerError, Flag, clean_partial, flags_for, validate_answers, visible_questions
from questionnaires.loader import validate_definition


def text(zh: str, en: str) -> dict:
    return {"zh-CN": zh, "en": en}


def option(value: str, flag: str | None = None) -> dict:
    result = {"value": value, "label": text(value, value)}
    if flag:
        result["flag"] = {"severity": flag, "label": text(f"{value}标记", f"{value} flag")}
    return result


DEFINITION = validate_definition({
    "key": "all-types",
    "title": text("全题型", "All types"),
    "review_type": "other",
    "identity_check": "none",
    "questions": [
        {"id": "consent", "type": "consent", "text": text("同意", "I agree")},
        {"id": "tip", "type": "notice", "text": text("提示", "Tip")},
        {"id": "own_operation", "type": "yes_no", "text": text("本人操作？", "Yourself?"),
         "options": [option("yes"), option("no", flag="high")]},
        {"id": "operator", "type": "single_choice", "text": text("谁？", "Who?"),
         "show_if": 'own_operation == "no"', "options": [option("family"), option("staff", flag="high")]},
        {"id": "channels", "type": "multiple_choice", "text": text("渠道", "Channels"), "required": False,
         "max_choices": 2, "options": [option("app"), option("branch"), option("call", flag="medium")]},
        {"id": "years", "type": "number", "text": text("年限", "Years"), "min": 0, "max": 80, "integer": True},
        {"id": "amount", "type": "number", "text": text("金额", "Amount"), "required": False},
        {"id": "bought_on", "type": "date", "text": text("日期", "Date"), "required": False,
         "min": "2020-01-01", "max": "2030-12-31"},
        {"id": "satisfaction", "type": "rating", "text": text("满意度", "Satisfaction"),
         "flag_at_or_below": {"value": 2, "severity": "low", "label": text("不满意", "Dissatisfied")}},
        {"id": "phone", "type": "text", "text": text("电话", "Phone"), "required": False,
         "pattern": "1[0-9]{10}"},
        {"id": "comment", "type": "text", "text": text("建议", "Suggestions"), "required": False,
         "multiline": True, "min_length": 2, "max_length": 10},
    ],
})

# A complete, valid submission as an HTML form sends it.
FORM = {
    "csrf_token": "token",
    "consent": "y",
    "own_operation": "yes",
    "channels": ["branch", "app", "app"],
    "years": "12",
    "amount": "1000.50",
    "bought_on": "2024-02-29",
    "satisfaction": "4",
    "phone": "13800138000",
    "comment": "很好",
}

CLEAN = {
    "consent": True,
    "own_operation": "yes",
    "channels": ["app", "branch"],
    "years": 12,
    "amount": 1000.5,
    "bought_on": "2024-02-29",
    "satisfaction": 4,
    "phone": "13800138000",
    "comment": "很好",
}


def form_with(**changes) -> dict:
    """FORM with some values changed; a value of ... leaves the key out."""
    return {key: value for key, value in {**FORM, **changes}.items() if value is not ...}


def errors_for(**changes) -> list[tuple[str, str]]:
    _, errors = validate_answers(DEFINITION, form_with(**changes))
    return [(error.question_id, error.code) for error in errors]


def test_a_complete_form_gives_typed_answers():
    assert validate_answers(DEFINITION, FORM) == (CLEAN, [])


def test_typed_json_answers_give_the_same_result():
    assert validate_answers(DEFINITION, CLEAN) == (CLEAN, [])


def test_multidict_form_data_keeps_every_chosen_value():
    form = MultiDict([(key, value) for key, value in FORM.items() if key != "channels"])
    form.add("channels", "branch")
    form.add("channels", "app")
    assert validate_answers(DEFINITION, form)[0]["channels"] == ["app", "branch"]


@pytest.mark.parametrize("question_id, value, code", [
    ("own_operation", "maybe", "not_an_option"),
    ("own_operation", True, "not_an_option"),
    ("channels", ["app", "fax"], "not_an_option"),
    ("channels", ["app", "branch", "call"], "too_many_choices"),
    ("channels", "fax", "not_an_option"),
    ("years", "abc", "not_a_number"),
    ("years", "1e3", "not_a_number"),
    ("years", "nan", "not_a_number"),
    ("years", "12.5", "not_an_integer"),
    ("years", "-1", "below_min"),
    ("years", 81, "above_max"),
    ("years", True, "not_a_number"),
    ("amount", float("inf"), "not_a_number"),
    ("bought_on", "2024-13-40", "not_a_date"),
    ("bought_on", "2023-02-29", "not_a_date"),
    ("bought_on", "20240101", "not_a_date"),
    ("bought_on", "2019-12-31", "below_min"),
    ("bought_on", "2031-01-01", "above_max"),
    ("satisfaction", "6", "not_an_option"),
    ("satisfaction", "0", "not_an_option"),
    ("satisfaction", "four", "not_an_option"),
    ("satisfaction", 4.5, "not_an_option"),
    ("phone", "12345", "pattern"),
    ("phone", "13800138000x", "pattern"),
    ("comment", "x", "too_short"),
    ("comment", "这条建议超过了十个字的上限", "too_long"),
    ("comment", 42, "not_text"),
    ("consent", "", "must_consent"),
    ("consent", "false", "must_consent"),
    ("consent", False, "must_consent"),
])
def test_rejects_invalid_answers(question_id, value, code):
    assert errors_for(**{question_id: value}) == [(question_id, code)]


@pytest.mark.parametrize("question_id, value, clean", [
    ("years", "１２", 12),
    ("bought_on", "２０２４－０５－３１", "2024-05-31"),  # full-width, typed without the date picker
    ("years", " 12 ", 12),
    ("years", 12.0, 12),
    ("amount", "-3.25", -3.25),
    ("amount", 7, 7),
    ("consent", "on", True),
    ("consent", "true", True),
    ("consent", True, True),
    ("satisfaction", 1, 1),
    ("comment", "  两行\r\n建议  ", "两行\n建议"),
    ("channels", "app", ["app"]),
    ("own_operation", ["yes"], "yes"),
])
def test_accepts_equivalent_spellings(question_id, value, clean):
    answers, errors = validate_answers(DEFINITION, {**FORM, question_id: value})
    assert (answers[question_id], errors) == (clean, [])


@pytest.mark.parametrize("question_id", ["own_operation", "years", "satisfaction"])
@pytest.mark.parametrize("blank", ["", " ", None, ...])
def test_required_questions_need_an_answer(question_id, blank):
    assert errors_for(**{question_id: blank}) == [(question_id, "required")]


@pytest.mark.parametrize("question_id", ["channels", "amount", "bought_on", "phone", "comment"])
@pytest.mark.parametrize("blank", ["", None, [], "   ", ...])
def test_optional_questions_may_be_left_blank(question_id, blank):
    answers, errors = validate_answers(DEFINITION, form_with(**{question_id: blank}))
    assert (question_id in answers, errors) == (False, [])


def test_hidden_question_is_not_required():
    assert errors_for(own_operation="yes", operator=...) == []


def test_hidden_question_answer_is_dropped_even_when_invalid():
    answers, errors = validate_answers(DEFINITION, {**FORM, "own_operation": "yes", "operator": "nonsense"})
    assert ("operator" not in answers, errors) == (True, [])


def test_shown_question_is_required():
    assert errors_for(own_operation="no") == [("operator", "required")]


def test_shown_question_is_kept():
    answers, _ = validate_answers(DEFINITION, {**FORM, "own_operation": "no", "operator": "staff"})
    assert answers["operator"] == "staff"


def test_invalid_answer_counts_as_unanswered_for_later_conditions():
    assert errors_for(own_operation="perhaps", operator="staff") == [("own_operation", "not_an_option")]


@pytest.mark.parametrize("key", ["unknown", "tip"])
def test_keys_that_are_not_answerable_questions_are_errors(key):
    assert errors_for(**{key: "x"}) == [(key, "unknown_question")]


@pytest.mark.parametrize("key", ["csrf_token", "_next", "_method"])
def test_form_housekeeping_keys_are_ignored(key):
    assert errors_for(**{key: "x"}) == []


def test_error_messages_are_bilingual_with_limits():
    _, errors = validate_answers(DEFINITION, {**FORM, "years": "99"})
    assert errors == [AnswerError("years", "above_max", {"zh-CN": "不能大于80。", "en": "Please enter 80 or less."})]


def test_date_limits_have_their_own_wording():
    _, errors = validate_answers(DEFINITION, {**FORM, "bought_on": "2019-01-01"})
    assert errors[0].message["en"] == "Please enter a date on or after 2020-01-01."


def test_clean_partial_keeps_what_parses_and_skips_required_checks():
    raw = {"own_operation": "no", "years": "abc", "comment": "x", "channels": ["app"], "unknown": "1"}
    assert clean_partial(DEFINITION, raw) == {"own_operation": "no", "channels": ["app"]}


def test_clean_partial_keeps_answers_to_hidden_questions():
    assert clean_partial(DEFINITION, {"own_operation": "yes", "operator": "family"})["operator"] == "family"


def test_clean_partial_never_raises():
    assert clean_partial(DEFINITION, {"channels": [1, None], "years": object(), "consent": "maybe"}) == {}


def ids(questions: list[dict]) -> list[str]:
    return [question["id"] for question in questions]


def test_visible_questions_include_notices_and_skip_hidden():
    shown = ids(visible_questions(DEFINITION, {"own_operation": "yes"}))
    assert shown[:4] == ["consent", "tip", "own_operation", "channels"]


def test_visible_questions_show_conditional_question():
    assert "operator" in ids(visible_questions(DEFINITION, {"own_operation": "no"}))


def test_visible_questions_treat_a_hidden_answer_as_unanswered():
    definition = validate_definition({
        **DEFINITION,
        "questions": [
            {"id": "a", "type": "yes_no", "text": text("甲", "A")},
            {"id": "b", "type": "yes_no", "text": text("乙", "B"), "show_if": 'a == "yes"'},
            {"id": "c", "type": "text", "text": text("丙", "C"), "show_if": 'b == "yes"'},
        ],
    })
    assert ids(visible_questions(definition, {"a": "no", "b": "yes"})) == ["a"]


def test_flags_for_flagged_options_and_low_ratings():
    answers = {**CLEAN, "own_operation": "no", "operator": "staff", "channels": ["call"], "satisfaction": 2}
    assert flags_for(DEFINITION, answers) == [
        Flag("own_operation", "no", "high", text("no标记", "no flag")),
        Flag("operator", "staff", "high", text("staff标记", "staff flag")),
        Flag("channels", "call", "medium", text("call标记", "call flag")),
        Flag("satisfaction", 2, "low", text("不满意", "Dissatisfied")),
    ]


def test_no_flags_for_unflagged_answers():
    assert flags_for(DEFINITION, CLEAN) == []


def test_no_flags_from_hidden_questions():
    assert flags_for(DEFINITION, {**CLEAN, "own_operation": "yes", "operator": "staff"}) == []
