"""The administrators' form for a new API key."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length


def lines(text: str | None) -> list[str]:
    """The non-blank lines of a text area, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ApiKeyForm(FlaskForm):
    """A business system's key: its name, where its callbacks may go, who may frame its gate page."""

    name = StringField(_l("System name"), validators=[DataRequired(_l("Enter the system's name.")), Length(max=64)])
    callback_prefixes = TextAreaField(_l("Callback URL prefixes"), validators=[Length(max=5000)])
    frame_origins = TextAreaField(_l("Origins that may frame the gate page"), validators=[Length(max=5000)])
