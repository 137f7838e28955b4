"""questionnaires.placeholders: {name} in bilingual texts."""

from __future__ import annotations

import pytest

from questionnaires.placeholders import (
    AUTO_FILLED,
    MissingPlaceholder,
    PlaceholderSyntaxError,
    fill,
    localize,
    missing_placeholders,
    names_in_text,
    placeholders_in,
)

DEFINITION = {
    "key": "test-review",
    "title": {"zh-CN": "{firm_name}回访", "en": "{firm_name} review"},
    "intro": {"zh-CN": "尊敬的{client_name}：", "en": "Dear {client_name}:"},
    "questions": [
        {
            "id": "product",
            "type": "single_choice",
            "text": {"zh-CN": "您购买了{product_name}吗？", "en": "Did you buy {product_name}?"},
            "options": [
                {"value": "yes", "label": {"zh-CN": "是", "en": "Yes"},
                 "flag": {"severity": "low", "label": {"zh-CN": "{{注意}}", "en": "{staff_name}"}}},
            ],
        },
    ],
}


@pytest.mark.parametrize("text, context, expected", [
    ("尊敬的{client_name}：", {"client_name": "张三"}, "尊敬的张三："),
    ("{a}{b}", {"a": 1, "b": 2.5}, "12.5"),
    ("literal {{braces}}", {}, "literal {braces}"),
    ("{{{a}}}", {"a": "x"}, "{x}"),
    ("no placeholders", {}, "no placeholders"),
    ("{a}", {"a": "{b}", "b": "not filled twice"}, "{b}"),
])
def test_fill(text, context, expected):
    assert fill(text, context) == expected


@pytest.mark.parametrize("context", [{}, {"name": None}, {"name": ""}])
def test_fill_refuses_to_leave_a_blank(context):
    with pytest.raises(MissingPlaceholder) as caught:
        fill("尊敬的{name}：", context)
    assert caught.value.name == "name"
    assert isinstance(caught.value, KeyError)


def test_fill_keeps_zero_as_a_value():
    assert fill("{count}", {"count": 0}) == "0"


@pytest.mark.parametrize("text, position", [
    ("{", 0),
    ("a } b", 2),
    ("{Name}", 0),
    ("{client name}", 0),
    ("{}", 0),
    ("{{a}", 3),
])
def test_malformed_placeholders_are_syntax_errors(text, position):
    with pytest.raises(PlaceholderSyntaxError) as caught:
        names_in_text(text)
    assert caught.value.position == position


def test_placeholders_in_every_bilingual_text():
    assert placeholders_in(DEFINITION) == {"firm_name", "client_name", "product_name", "staff_name"}


def test_missing_placeholders_are_sorted_and_count_empty_values():
    context = {"firm_name": "某证券", "client_name": "", "product_name": None}
    assert missing_placeholders(DEFINITION, context) == ["client_name", "product_name", "staff_name"]


def test_no_placeholders_missing_when_all_given():
    context = dict.fromkeys(["firm_name", "client_name", "product_name", "staff_name"], "x")
    assert missing_placeholders(DEFINITION, context) == []


def test_auto_filled_names():
    assert AUTO_FILLED == {"client_name", "client_risk_level", "firm_name", "service_phone"}


CONTEXT = {"firm_name": "某证券", "client_name": "张三", "product_name": "稳健一号", "staff_name": "李四"}


@pytest.mark.parametrize("lang, title", [
    ("zh-CN", "某证券回访"),
    ("en", "某证券 review"),
    ("en-US", "某证券 review"),
    ("en_GB", "某证券 review"),
    ("fr", "某证券回访"),
    (None, "某证券回访"),
])
def test_localize_picks_the_language_or_falls_back_to_chinese(lang, title):
    assert localize(DEFINITION, lang, CONTEXT)["title"] == title


def test_localize_converts_nested_texts_and_keeps_the_rest():
    localized = localize(DEFINITION, "en", CONTEXT)
    option = localized["questions"][0]["options"][0]
    assert localized["questions"][0]["text"] == "Did you buy 稳健一号?"
    assert option == {"value": "yes", "label": "Yes", "flag": {"severity": "low", "label": "李四"}}


def test_localize_does_not_change_the_definition():
    localized = localize(DEFINITION, "zh-CN", CONTEXT)
    localized["questions"][0]["options"].clear()
    assert DEFINITION["questions"][0]["options"]
    assert DEFINITION["title"] == {"zh-CN": "{firm_name}回访", "en": "{firm_name} review"}


def test_localize_raises_for_a_missing_value():
    with pytest.raises(MissingPlaceholder):
        localize(DEFINITION, "zh-CN", {"firm_name": "某证券"})
