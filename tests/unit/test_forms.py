"""questionnaires.forms: a WTForms form class from a definition."""

from __future__ import annotations

import pytest
import wtforms
from werkzeug.datastructures import MultiDict

from questionnaires.answers import validate_answers
from questionnaires.forms import ConsentField, build_form_class, form_data_as_raw
from questionnaires.loader import validate_definition
from questionnaires.placeholders import MissingPlaceholder


def text(zh: str, en: str) -> dict:
    return {"zh-CN": zh, "en": en}


def option(value: str, zh: str, en: str) -> dict:
    return {"value": value, "label": text(zh, en)}


DEFINITION = validate_definition({
    "key": "all-types",
    "title": text("全题型", "All types"),
    "review_type": "other",
    "identity_check": "none",
    "questions": [
        {"id": "agree", "type": "consent", "text": text("我同意接受回访", "I agree to the review")},
        {"id": "tip", "type": "notice", "text": text("温馨提示", "Reminder")},
        {"id": "own_operation", "type": "yes_no", "text": text("{client_name}，是本人操作吗？", "{client_name}, yourself?"),
         "help": text("请如实回答", "Please answer truthfully")},
        {"id": "operator", "type": "single_choice", "text": text("谁操作？", "Who?"),
         "options": [option("family", "家人", "Family"), option("staff", "工作人员", "Staff")]},
        {"id": "channels", "type": "multiple_choice", "text": text("渠道", "Channels"),
         "options": [option("app", "手机", "App"), option("branch", "营业部", "Branch")]},
        {"id": "years", "type": "number", "text": text("年限", "Years")},
        {"id": "bought_on", "type": "date", "text": text("日期", "Date"), "min": "2020-01-01"},
        {"id": "satisfaction", "type": "rating", "text": text("满意度", "Satisfaction"), "scale": 3,
         "min_label": text("不满意", "Unhappy"), "max_label": text("满意", "Happy")},
        {"id": "name", "type": "text", "text": text("姓名", "Name"), "max_length": 50},
        {"id": "comment", "type": "text", "text": text("建议", "Suggestions"), "multiline": True, "required": False},
    ],
})
CONTEXT = {"client_name": "张三"}


def make_form(formdata=None, lang="zh-CN", **kwargs):
    return build_form_class(DEFINITION, lang, CONTEXT)(formdata, **kwargs)


@pytest.mark.parametrize("field_id, field_class", [
    ("agree", ConsentField),
    ("own_operation", wtforms.RadioField),
    ("operator", wtforms.RadioField),
    ("satisfaction", wtforms.RadioField),
    ("channels", wtforms.SelectMultipleField),
    ("years", wtforms.StringField),
    ("bought_on", wtforms.StringField),
    ("name", wtforms.StringField),
    ("comment", wtforms.TextAreaField),
])
def test_field_type_per_question_type(field_id, field_class):
    assert type(make_form()[field_id]) is field_class


@pytest.mark.parametrize(("sent", "ticked"), [("y", True), ("on", False), ("no", False), ("0", False),
                                               ("false", False), ("", False)])
def test_a_consent_box_is_ticked_only_by_its_own_value(sent, ticked):
    form = make_form(MultiDict({"agree": sent}))
    assert form.agree.data is ticked
    assert 'value="y"' in form.agree()  # the box sent back keeps sending its own value


def test_an_unsent_consent_box_is_not_ticked():
    assert make_form(MultiDict({"years": "3"})).agree.data is False


def test_one_field_per_answerable_question_in_order():
    assert [field.name for field in make_form()] == [
        "agree", "own_operation", "operator", "channels", "years", "bought_on", "satisfaction", "name", "comment"
    ]


def test_fields_have_no_validators():
    assert all(not field.validators for field in make_form())


@pytest.mark.parametrize("lang, label, description", [
    ("zh-CN", "张三，是本人操作吗？", "请如实回答"),
    ("en", "张三, yourself?", "Please answer truthfully"),
])
def test_labels_are_localized_and_filled(lang, label, description):
    field = make_form(lang=lang)["own_operation"]
    assert (field.label.text, field.description) == (label, description)


def test_choices_come_from_the_options():
    form = make_form(lang="en")
    assert form["own_operation"].choices == [("yes", "Yes"), ("no", "No")]
    assert form["channels"].choices == [("app", "App"), ("branch", "Branch")]


def test_rating_choices_carry_the_end_labels():
    assert make_form()["satisfaction"].choices == [("1", "1 – 不满意"), ("2", "2"), ("3", "3 – 满意")]


@pytest.mark.parametrize("field_id, attributes", [
    ("years", {"inputmode": "decimal"}),
    ("bought_on", {"type": "date", "min": "2020-01-01"}),
    ("name", {"maxlength": 50}),
])
def test_render_hints(field_id, attributes):
    assert make_form()[field_id].render_kw == attributes


def test_renders_radios_checkboxes_and_date_input():
    form = make_form()
    assert 'type="radio"' in form["operator"]() and 'value="staff"' in form["operator"]()
    assert form["channels"]().count('type="checkbox"') == 2
    assert 'type="date"' in form["bought_on"]()


def test_questions_list_includes_notices_localized():
    form_class = build_form_class(DEFINITION, "en", CONTEXT)
    assert [q["id"] for q in form_class.questions][:2] == ["agree", "tip"]
    assert form_class.questions[1]["text"] == "Reminder"


def test_missing_placeholder_stops_the_build():
    with pytest.raises(MissingPlaceholder):
        build_form_class(DEFINITION, "zh-CN", {})


POSTED = MultiDict([
    ("agree", "y"),
    ("own_operation", "no"),
    ("operator", "staff"),
    ("channels", "branch"),
    ("channels", "app"),
    ("years", "3"),
    ("bought_on", "2024-05-01"),
    ("satisfaction", "2"),
    ("name", "张三"),
    ("comment", ""),
])


def test_posted_data_becomes_raw_answers():
    assert form_data_as_raw(make_form(POSTED)) == {
        "agree": True,
        "own_operation": "no",
        "operator": "staff",
        "channels": ["branch", "app"],
        "years": "3",
        "bought_on": "2024-05-01",
        "satisfaction": "2",
        "name": "张三",
        "comment": "",
    }


def test_posted_form_validates_through_validate_answers():
    answers, errors = validate_answers(DEFINITION, form_data_as_raw(make_form(POSTED)))
    assert errors == [] and answers["satisfaction"] == 2 and answers["channels"] == ["app", "branch"]


def test_empty_post_gives_required_errors():
    _, errors = validate_answers(DEFINITION, form_data_as_raw(make_form(MultiDict())))
    assert {error.code for error in errors} == {"required", "must_consent"}


def test_draft_answers_fill_the_form():
    form = make_form(data={"satisfaction": 3, "channels": ["app"], "years": 12})
    assert '<input checked id="satisfaction-2"' in form["satisfaction"]()
    assert form["channels"].data == ["app"] and form["years"]._value() == "12"


def test_form_data_as_raw_omits_csrf_token():
    class WithToken(wtforms.Form):
        csrf_token = wtforms.HiddenField()

    form = build_form_class(DEFINITION, "zh-CN", CONTEXT, base=WithToken)(MultiDict({"csrf_token": "t"}))
    assert "csrf_token" not in form_data_as_raw(form)
