"""questionnaires.loader: parsing, schema and semantic checks with paths and lines, normalizing."""

from __future__ import annotations

import datetime
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from questionnaires.loader import (
    SCHEMA,
    DefinitionError,
    DefinitionIssue,
    load_definition,
    load_definition_file,
    validate_definition,
)

# Five lines, so the first question starts on line 6.
HEADER = """\
key: test-review
title: {zh-CN: 测试问卷, en: Test questionnaire}
review_type: other
identity_check: none
questions:
"""

YES_NO = """\
  - id: own_intent
    type: yes_no
    text: {zh-CN: 是本人意愿吗？, en: "Your own will?"}
"""


def definition_yaml(*blocks: str) -> str:
    """HEADER followed by question blocks, each written at any indentation."""
    return HEADER + "".join(textwrap.indent(textwrap.dedent(block).rstrip(" "), "  ") for block in blocks)


def issues_of(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(text)
    return [str(issue) for issue in caught.value.issues]


def minimal(**question) -> dict:
    """An already-parsed definition with one question (defaults: a yes_no)."""
    question = {"id": "q", "type": "yes_no", "text": {"zh-CN": "问", "en": "Q"}, **question}
    return {
        "key": "test-review",
        "title": {"zh-CN": "测试", "en": "Test"},
        "review_type": "other",
        "identity_check": "none",
        "questions": [question],
    }


# The spec's example error, and one per kind of problem; each YAML starts its questions on line 6.
ERROR_CASES = {
    "unknown severity": (
        """\
        - id: own_intent
          type: yes_no
          text: {zh-CN: 甲, en: A}
          options:
            - value: "yes"
              label: {zh-CN: 是, en: "Yes"}
            - value: "no"
              label: {zh-CN: 否, en: "No"}
              flag: {severity: hgh, label: {zh-CN: 乙, en: B}}
        """,
        "questions[0].options[1].flag: unknown severity 'hgh' (line 14)",
    ),
    "unknown question type": (
        """\
        - id: a
          type: singel_choice
          text: {zh-CN: 甲, en: A}
        """,
        "questions[0]: unknown question type 'singel_choice' (line 7)",
    ),
    "missing text": (
        """\
        - id: a
          type: text
        """,
        "questions[0]: missing required field 'text' (line 6)",
    ),
    "missing language": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲}
        """,
        "questions[0].text: missing required field 'en' (line 8)",
    ),
    "unknown field": (
        """\
        - id: a
          type: text
          colour: red
          text: {zh-CN: 甲, en: A}
        """,
        "questions[0]: unknown field 'colour' (line 8)",
    ),
    "field of another type": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲, en: A}
          scale: 5
        """,
        "questions[0]: field 'scale' does not apply to type 'text' (line 9)",
    ),
    "duplicate question ids": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲, en: A}
        - id: a
          type: text
          text: {zh-CN: 乙, en: B}
        """,
        "questions[1]: duplicate question id 'a' (already used by questions[0]) (line 9)",
    ),
    "show_if refers to a later question": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲, en: A}
          show_if: 'b == "x"'
        - id: b
          type: text
          text: {zh-CN: 乙, en: B}
        """,
        "questions[0].show_if: refers to 'b', which is not an earlier question (line 9)",
    ),
    "show_if refers to an unknown question": (
        (YES_NO, """\
        - id: b
          type: text
          text: {zh-CN: 乙, en: B}
          show_if: 'nobody == "yes"'
        """),
        "questions[1].show_if: refers to unknown question 'nobody' (line 12)",
    ),
    "show_if literal is not an option": (
        (YES_NO, """\
        - id: b
          type: text
          text: {zh-CN: 乙, en: B}
          show_if: 'own_intent == "maybe"'
        """),
        """questions[1].show_if: compares 'own_intent' with "maybe", which is not one of its option values (line 12)""",
    ),
    "show_if does not parse": (
        (YES_NO, """\
        - id: b
          type: text
          text: {zh-CN: 乙, en: B}
          show_if: 'own_intent = "yes"'
        """),
        "questions[1].show_if: cannot parse: unexpected character '=' at position 11 (line 12)",
    ),
    "bad regex": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲, en: A}
          pattern: "[0-9"
        """,
        "questions[0].pattern: invalid regular expression: unterminated character set at position 0 (line 9)",
    ),
    "duplicate yaml key": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲, en: A}
          text: {zh-CN: 乙, en: B}
        """,
        "questions[0]: duplicate key 'text' (first on line 8) (line 9)",
    ),
    "bare yes read as true": (
        """\
        - id: a
          type: single_choice
          text: {zh-CN: 甲, en: A}
          options:
            - {value: yes, label: {zh-CN: 是, en: "Yes"}}
            - {value: other, label: {zh-CN: 其他, en: Other}}
        """,
        "questions[0].options[0].value: must be text: YAML reads bare yes/no/on/off/true/false "
        "as true or false; put it in quotes (line 10)",
    ),
    "yes_no options other than yes and no": (
        """\
        - id: a
          type: yes_no
          text: {zh-CN: 甲, en: A}
          options:
            - {value: "yes", label: {zh-CN: 是, en: "Yes"}}
            - {value: maybe, label: {zh-CN: 也许, en: Maybe}}
        """,
        "questions[0].options: yes_no options must be exactly the values 'yes' and 'no' (line 9)",
    ),
    "duplicate option values": (
        """\
        - id: a
          type: single_choice
          text: {zh-CN: 甲, en: A}
          options:
            - {value: x, label: {zh-CN: 甲, en: A}}
            - {value: x, label: {zh-CN: 乙, en: B}}
        """,
        "questions[0].options[1]: duplicate option value 'x' (line 11)",
    ),
    "number min above max": (
        """\
        - id: a
          type: number
          text: {zh-CN: 甲, en: A}
          min: 10
          max: 1
        """,
        "questions[0]: min 10 is greater than max 1 (line 9)",
    ),
    "text min_length above the default max_length": (
        """\
        - id: a
          type: text
          text: {zh-CN: 甲, en: A}
          min_length: 3000
        """,
        "questions[0]: min_length 3000 is greater than max_length 2000 (line 9)",
    ),
    "impossible date": (
        """\
        - id: a
          type: date
          text: {zh-CN: 甲, en: A}
          min: 2024-13-40
        """,
        "questions[0].min: '2024-13-40' is not a real date (line 9)",
    ),
    "rating flag outside the scale": (
        """\
        - id: a
          type: rating
          text: {zh-CN: 甲, en: A}
          scale: 5
          flag_at_or_below: {value: 6, severity: low, label: {zh-CN: 乙, en: B}}
        """,
        "questions[0].flag_at_or_below.value: 6 is outside the scale 1–5 (line 10)",
    ),
    "max_choices above the option count": (
        """\
        - id: a
          type: multiple_choice
          text: {zh-CN: 甲, en: A}
          max_choices: 3
          options:
            - {value: x, label: {zh-CN: 甲, en: A}}
            - {value: y, label: {zh-CN: 乙, en: B}}
        """,
        "questions[0].max_choices: is 3, but there are only 2 options (line 9)",
    ),
    "too few options": (
        """\
        - id: a
          type: single_choice
          text: {zh-CN: 甲, en: A}
          options:
            - {value: x, label: {zh-CN: 甲, en: A}}
        """,
        "questions[0].options: needs at least 2 options (line 9)",
    ),
    "stray brace in a text": (
        """\
        - id: a
          type: text
          text: {zh-CN: "尊敬的{客户}", en: A}
        """,
        "questions[0].text.zh-CN: bad placeholder: stray '{' at position 3 (a placeholder is {name} "
        "in lowercase letters, digits and _; a literal brace is {{ or }}) (line 8)",
    ),
    "invalid id": (
        """\
        - id: Own-Intent
          type: text
          text: {zh-CN: 甲, en: A}
        """,
        "questions[0].id: 'Own-Intent' is not a valid id (lowercase letters, digits and '_', "
        "starting with a letter, at most 63) (line 6)",
    ),
    "id reserved by the form": (
        """\
        - id: data
          type: text
          text: {zh-CN: 甲, en: A}
        """,
        "questions[0].id: 'data' is reserved; choose another id (line 6)",
    ),
}


@pytest.mark.parametrize("questions, expected", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_reports_problem_with_path_and_line(questions, expected):
    blocks = questions if isinstance(questions, tuple) else (questions,)
    assert expected in issues_of(definition_yaml(*blocks))


def test_reports_yaml_syntax_error_with_line():
    assert issues_of(HEADER + "  - id: a\n    text: [unclosed\n") == [
        "YAML syntax: expected ',' or ']', but got '<stream end>' (line 8)"
    ]


def test_reports_every_problem_at_once_in_line_order():
    text = definition_yaml("""\
        - id: a
          type: notice
          text: {zh-CN: 甲, en: A}
          colour: red
        - id: b
          type: text
        - id: c
          type: yes_no
          text: {zh-CN: 丙, en: C}
          show_if: 'a == "x"'
        """)
    assert issues_of(text) == [
        "questions[0]: unknown field 'colour' (line 9)",
        "questions[1]: missing required field 'text' (line 10)",
        "questions[2].show_if: refers to 'a', a notice, which has no answer (line 15)",
    ]


def test_error_text_lists_one_issue_per_line():
    error = DefinitionError([DefinitionIssue("a", "first", 1), DefinitionIssue("", "second", None)])
    assert str(error) == "a: first (line 1)\nsecond"


def test_missing_top_level_field_has_no_path():
    assert issues_of("title: {zh-CN: 甲, en: A}\n")[0] == "missing required field 'key' (line 1)"


@pytest.mark.parametrize("text, expected", [
    ("", "the definition is empty"),
    ("- a\n- b\n", "the definition must be a mapping (line 1)"),
    ("a: 1\n---\nb: 2\n", "YAML syntax: but found another document (line 2)"),
])
def test_rejects_documents_that_are_not_one_mapping(text, expected):
    assert issues_of(text) == [expected]


def test_reports_forbidden_characters_with_line():
    assert issues_of("key: a\nbad: \x00\n") == ["YAML syntax: character U+0000 is not allowed (line 2)"]


@pytest.mark.parametrize("text", ["key: " + "[" * 5000 + "]" * 5000, "key: " + "[" * 30 + "]" * 30])
def test_refuses_deep_nesting(text):
    assert issues_of(text)[0].startswith("nested too deeply")


def test_refuses_python_tags():
    issues = issues_of('key: !!python/object/apply:os.system ["echo hi"]\n')
    assert issues[0].startswith("YAML syntax: could not determine a constructor")


def test_refuses_alias_expansion_bombs():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    assert issues_of("\n".join(lines))[0].startswith("too large")


def test_loads_json_with_tab_indentation():
    data = minimal()
    text = json.dumps(data, indent="\t", ensure_ascii=False)
    assert load_definition(text)["questions"][0]["id"] == "q"


def test_json_errors_have_lines():
    data = minimal()
    data["questions"][0]["type"] = "singel_choice"
    assert issues_of(json.dumps(data, indent=2)) == ["questions[0]: unknown question type 'singel_choice' (line 12)"]


def test_loads_utf8_bytes_with_bom():
    text = definition_yaml(YES_NO)
    assert load_definition(("\ufeff" + text).encode("utf-8"))["title"]["zh-CN"] == "测试问卷"


def test_rejects_bytes_that_are_not_utf8():
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_definition("key: 测试".encode("gb18030"))


def test_load_definition_file_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("key: x\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(path)
    assert caught.value.filename == str(path)


@pytest.mark.parametrize("question_type, extra, defaults", [
    ("text", {}, {"required": True, "multiline": False, "max_length": 2000}),
    ("number", {}, {"required": True, "integer": False}),
    ("rating", {}, {"required": True, "scale": 5}),
    ("notice", {"required": True}, {"required": False}),
    ("consent", {"required": False}, {"required": True}),
    ("date", {"required": False}, {"required": False}),
])
def test_fills_defaults(question_type, extra, defaults):
    question = validate_definition(minimal(type=question_type, **extra))["questions"][0]
    assert {key: question[key] for key in defaults} == defaults


def test_fills_default_yes_no_options():
    question = validate_definition(minimal())["questions"][0]
    assert question["options"] == [
        {"value": "yes", "label": {"zh-CN": "是", "en": "Yes"}},
        {"value": "no", "label": {"zh-CN": "否", "en": "No"}},
    ]


def test_keeps_key_order_and_puts_zh_cn_first():
    data = minimal()
    data["title"] = {"en": "Test", "zh-CN": "测试"}
    loaded = validate_definition(data)
    assert list(loaded) == list(data)
    assert list(loaded["title"]) == ["zh-CN", "en"]
    assert list(loaded["questions"][0])[:3] == ["id", "type", "text"]


def test_validate_definition_does_not_change_its_argument():
    data = minimal()
    before = json.dumps(data)
    validate_definition(data)
    assert json.dumps(data) == before


def test_validate_definition_reports_issues_without_lines():
    with pytest.raises(DefinitionError) as caught:
        validate_definition(minimal(type="singel_choice"))
    assert caught.value.issues == [DefinitionIssue("questions[0]", "unknown question type 'singel_choice'", None)]


def test_stores_unquoted_yaml_dates_as_iso_text():
    text = definition_yaml("""\
        - id: a
          type: date
          text: {zh-CN: 甲, en: A}
          min: 2024-01-01
        """)
    assert load_definition(text)["questions"][0]["min"] == "2024-01-01"


def test_accepts_date_objects_from_python():
    question = validate_definition(minimal(type="date", max=datetime.date(2030, 1, 1)))["questions"][0]
    assert question["max"] == "2030-01-01"


def test_show_if_may_refer_to_an_earlier_choice_with_its_options():
    text = definition_yaml(YES_NO, """\
        - id: why
          type: text
          text: {zh-CN: 为什么？, en: "Why?"}
          show_if: 'own_intent == "no" or own_intent not in ["yes"]'
        """)
    assert load_definition(text)["questions"][1]["show_if"].startswith("own_intent")


def test_the_format_documents_example_loads():
    document = (Path(__file__).parents[2] / "docs" / "questionnaire-format.md").read_text(encoding="utf-8")
    example = document.split("## Example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert load_definition(example)["questions"][0]["options"][1]["flag"]["severity"] == "high"


def test_schema_file_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
