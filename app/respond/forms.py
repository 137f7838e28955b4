"""Forms of the client's side; the questionnaire form itself is built from the pinned version."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from questionnaires.forms import build_form_class


class IdentityForm(FlaskForm):
    """The identity check asked before the first question."""

    answer = StringField(validators=[DataRequired(), Length(max=20)])


def questionnaire_form_class(version, lang: str, context: dict) -> type:
    """The WTForms class for a version in a language with the invitation's placeholder values."""
    return build_form_class(version.definition, lang, context, base=FlaskForm)
