"""questionnaires.versioning: canonical JSON, content hash, structured diff."""

from __future__ import annotations

import copy

import pytest

from questionnaires.versioning import canonical_json, content_hash, diff_definitions


def text(zh: str, en: str) -> dict:
    return {"zh-CN": zh, "en": en}


OLD = {
    "key": "review",
    "title": text("回访", "Review"),
    "questions": [
        {"id": "own_intent", "type": "yes_no", "text": text("本人意愿？", "Own will?"),
         "options": [{"value": "yes", "label": text("是", "Yes")},
                     {"value": "no", "label": text("否", "No"),
                      "flag": {"severity": "high", "label": text("非本人意愿", "Not own will")}}]},
        {"id": "comment", "type": "text", "text": text("建议", "Suggestions"), "required": False},
    ],
}


def test_canonical_json_sorts_keys_and_keeps_chinese():
    assert canonical_json({"b": 1, "a": "回访"}) == '{"a":"回访","b":1}'


def test_content_hash_format():
    digest = content_hash(OLD)
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64


def test_content_hash_ignores_key_order():
    reordered = {key: OLD[key] for key in reversed(list(OLD))}
    reordered["title"] = {"en": "Review", "zh-CN": "回访"}
    assert content_hash(reordered) == content_hash(OLD)


@pytest.mark.parametrize("edit", [
    lambda d: d["title"].update(en="Review!"),
    lambda d: d["questions"].reverse(),
    lambda d: d["questions"][1].update(required=True),
    lambda d: d["questions"][1].update(max_length=2000),
])
def test_content_hash_changes_with_content(edit):
    new = copy.deepcopy(OLD)
    edit(new)
    assert content_hash(new) != content_hash(OLD)


def test_no_differences_for_equal_definitions():
    assert diff_definitions(OLD, copy.deepcopy(OLD)) == []


def test_diff_names_changed_texts_by_question_id():
    new = copy.deepcopy(OLD)
    new["questions"][0]["text"]["en"] = "Your own will?"
    assert diff_definitions(OLD, new) == [
        {"kind": "changed", "path": "questions[id=own_intent].text.en", "old": "Own will?", "new": "Your own will?"}
    ]


def test_diff_names_options_by_value():
    new = copy.deepcopy(OLD)
    new["questions"][0]["options"][1]["flag"]["severity"] = "medium"
    assert diff_definitions(OLD, new) == [{
        "kind": "changed",
        "path": "questions[id=own_intent].options[value=no].flag.severity",
        "old": "high",
        "new": "medium",
    }]


def test_diff_reports_added_and_removed_questions_once():
    new = copy.deepcopy(OLD)
    removed = new["questions"].pop(0)
    added = {"id": "age", "type": "number", "text": text("年龄", "Age")}
    new["questions"].insert(0, added)
    assert diff_definitions(OLD, new) == [
        {"kind": "removed", "path": "questions[id=own_intent]", "old": removed, "new": None},
        {"kind": "added", "path": "questions[id=age]", "old": None, "new": added},
    ]


def test_diff_reports_added_and_removed_fields():
    new = copy.deepcopy(OLD)
    del new["questions"][1]["required"]
    new["intro"] = text("您好", "Hello")
    assert diff_definitions(OLD, new) == [
        {"kind": "removed", "path": "questions[id=comment].required", "old": False, "new": None},
        {"kind": "added", "path": "intro", "old": None, "new": text("您好", "Hello")},
    ]


def test_diff_reports_reordered_questions():
    new = copy.deepcopy(OLD)
    new["questions"].reverse()
    assert diff_definitions(OLD, new) == [
        {"kind": "changed", "path": "questions[order]", "old": ["own_intent", "comment"], "new": ["comment", "own_intent"]}
    ]


def test_diff_reports_a_changed_type_of_value():
    new = copy.deepcopy(OLD)
    new["questions"][1]["required"] = 0
    assert diff_definitions(OLD, new)[0]["path"] == "questions[id=comment].required"
