"""A WTForms form class built from a definition, for rendering a questionnaire.

The fields carry no validators: questionnaires.answers.validate_answers is the one place answers
are checked, for the web form and the JSON API alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import wtforms
from wtforms.widgets import CheckboxInput, ListWidget

from .placeholders import localize


def _choice_field(question: dict, label: str, description: str):
    return wtforms.RadioField(
        label, description=description, choices=_choices(question), validate_choice=False, coerce=str
    )


def _choices(question: dict) -> list[tuple[str, str]]:
    if question["type"] != "rating":
        return [(option["value"], option["label"]) for option in question["options"]]
    scale = question.get("scale", 5)
    # The end labels ("很不满意" … "非常满意") go on the end points so any template shows them.
    ends = {1: question.get("min_label"), scale: question.get("max_label")}
    return [(str(point), f"{point} – {ends[point]}" if ends.get(point) else str(point))
            for point in range(1, scale + 1)]


def _multiple_choice_field(question: dict, label: str, description: str):
    return wtforms.SelectMultipleField(
        label,
        description=description,
        choices=_choices(question),
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


def _text_field(question: dict, label: str, description: str):
    field_class = wtforms.TextAreaField if question.get("multiline") else wtforms.StringField
    # maxlength is a hint to the browser only; validate_answers enforces it.
    hints = {"maxlength": question.get("max_length", 2000)}
    return field_class(label, description=description, render_kw=hints)


def _number_field(question: dict, label: str, description: str):
    return wtforms.StringField(label, description=description, render_kw={"inputmode": "decimal"})


def _date_field(question: dict, label: str, description: str):
    limits = {name: question[name] for name in ("min", "max") if question.get(name)}
    return wtforms.StringField(label, description=description, render_kw={"type": "date", **limits})


class ConsentField(wtforms.BooleanField):
    """A consent box, ticked only when the browser sends the box's own value.

    BooleanField counts every value but "false" and "" as ticked, so a forged "no" or "0" would
    record a consent the client never gave; here any other value is an unticked box (and a required
    consent then asks the client to confirm).
    """

    BOX_VALUE = "y"

    def process_formdata(self, valuelist):
        self.data = bool(valuelist) and valuelist[0] == self.BOX_VALUE

    def _value(self):
        # BooleanField renders the value it was sent; a box must keep sending its own.
        return self.BOX_VALUE


def _consent_field(question: dict, label: str, description: str):
    return ConsentField(label, description=description)


_FIELD_BUILDERS = {
    "single_choice": _choice_field,
    "yes_no": _choice_field,
    "rating": _choice_field,
    "multiple_choice": _multiple_choice_field,
    "text": _text_field,
    "number": _number_field,
    "date": _date_field,
    "consent": _consent_field,
}


def _field(question: dict):
    build = _FIELD_BUILDERS[question["type"]]
    return build(question, question["text"], question.get("help", ""))


def build_form_class(
    definition: dict, lang: str, context: Mapping[str, object], base: type = wtforms.Form
) -> type:
    """One field per answerable question, named by question id, labels localized and filled."""
    questions = localize(definition, lang, context)["questions"]
    attributes = {
        question["id"]: _field(question)
        for question in questions
        if question["type"] in _FIELD_BUILDERS
    }
    # Notices have no field; templates iterate `questions` and look up form[question["id"]].
    attributes["questions"] = questions
    return type("QuestionnaireForm", (base,), attributes)


def form_data_as_raw(form: wtforms.Form) -> dict:
    """The form's data as the raw mapping validate_answers expects (no csrf_token; lists kept)."""
    return {name: value for name, value in form.data.items() if name != "csrf_token"}
