"""Console forms: publishing, retiring, creating invitations, and the list filters."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

import wtforms
from flask import flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms.validators import DataRequired, Length, Optional as OptionalValue, ValidationError

from app.definitions.models import ReviewType
from app.params import row_id
from app.phrases import localized
from app.reviews.models import Channel, InvitationStatus

# Dates typed in the console are the firm's calendar days (China Standard Time, no daylight saving).
FIRM_TZ = timezone(timedelta(hours=8), "UTC+8")
MAX_DEFINITION_CHARS = 1_000_000
CONTEXT_PREFIX = "ctx_"


def firm_time(value) -> str:
    """A stored UTC time as the firm reads it: UTC+8, to the minute; "" for none."""
    return value.astimezone(FIRM_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def show_refusal(form, field_name: str, message: str) -> None:
    """Show a service's refusal under the form's field it names, or as a message on top of the page."""
    message = localized(message)
    field = form._fields.get(field_name)
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        flash(message, "error")


# Display names of stored values (the values themselves stay English in URLs and the database).
STATUS_LABELS = {
    "pending": _l("Pending"), "opened": _l("Opened"), "completed": _l("Completed"),
    "cancelled": _l("Cancelled"), "expired": _l("Expired"),
}
CHANNEL_LABELS = {"link": _l("Link"), "sms": _l("SMS"), "email": _l("Email"), "app": _l("App"), "letter": _l("Letter")}
REVIEW_TYPE_LABELS = {
    "new_account": _l("New account"), "new_permission": _l("New permission"), "abnormal": _l("Abnormal trading"),
    "suitability": _l("Suitability"), "broker_practice": _l("Broker/adviser practice"),
    "private_fund": _l("Private fund"), "departing_staff": _l("Departing staff"),
    "complained_staff": _l("Complained-about staff"), "complaint_closure": _l("Complaint closure"),
    "other": _l("Other"),
}
SEVERITY_LABELS = {"low": _l("Low"), "medium": _l("Medium"), "high": _l("High")}
QUESTION_TYPE_LABELS = {
    "single_choice": _l("Single choice"), "multiple_choice": _l("Multiple choice"), "yes_no": _l("Yes/no"),
    "text": _l("Free text"), "number": _l("Number"), "date": _l("Date"), "rating": _l("Rating"),
    "consent": _l("Consent"), "notice": _l("Notice"),
}
IDENTITY_LABELS = {"none": _l("None"), "id_last4": _l("Last 4 characters of the ID"), "birth_date": _l("Birth date")}
EXCEPTION_STATUS_LABELS = {"open": _l("Open"), "assigned": _l("Assigned"), "escalated": _l("Escalated"), "closed": _l("Closed")}


class PublishForm(FlaskForm):
    """Publish a definition from an uploaded file or pasted text."""

    file = FileField(_l("Definition file (YAML or JSON)"))
    text = wtforms.TextAreaField(_l("…or paste the definition"),
                                 validators=[Length(max=MAX_DEFINITION_CHARS)])

    def source(self) -> tuple[str, str]:
        """(text, filename) of what was sent; call after validate()."""
        upload = self.file.data
        if upload and getattr(upload, "filename", ""):
            return self._decoded, upload.filename
        return self.text.data, "<pasted>"

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        upload = self.file.data
        if upload and getattr(upload, "filename", ""):
            try:
                self._decoded = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.file.errors.append(_l("The file is not UTF-8 text."))
                return False
            if not self._decoded.strip():
                self.file.errors.append(_l("The file is empty."))
                return False
            return True
        if not (self.text.data or "").strip():
            self.text.errors.append(_l("Choose a file or paste a definition."))
            return False
        return True


class RetireForm(FlaskForm):
    """Confirm retiring a version."""

    confirm = wtforms.BooleanField(
        _l("I understand that links of this version stop working and no new invitations can use it."),
        validators=[DataRequired(_l("Tick the box to confirm."))])


def parse_version_choice(value: str) -> Optional[tuple[str, int]]:
    key, _sep, number = (value or "").rpartition(":")
    try:
        return (key, row_id(number)) if key else None
    except ValueError:  # not a version number (str.isdigit took "²", which int() refuses)
        return None


class InvitationForm(FlaskForm):
    """Create an invitation; one `ctx_<name>` field per placeholder is added by invitation_form()."""

    client_account = wtforms.StringField(_l("Client account"), validators=[DataRequired(_l("Enter the client's account number.")), Length(max=32)])
    version = wtforms.SelectField(_l("Questionnaire version"), validators=[DataRequired(_l("Choose a questionnaire version."))])
    channel = wtforms.SelectField(_l("Channel"), choices=[(c.value, CHANNEL_LABELS[c.value]) for c in Channel], default=Channel.LINK.value)
    expires_on = wtforms.DateField(_l("Expires at the end of (UTC+8)"), validators=[OptionalValue()])

    placeholder_names: list[str] = []

    def chosen_version(self) -> Optional[tuple[str, int]]:
        """(key, number) of the chosen version, or None."""
        return parse_version_choice(self.version.data)

    def validate_version(self, field):
        if self.chosen_version() is None:
            raise ValidationError(_l("Choose a questionnaire version."))

    def expires_at(self) -> Optional[datetime]:
        """The end of the chosen day in the firm's time zone, as aware UTC; None for the default."""
        day: Optional[date] = self.expires_on.data
        if day is None:
            return None
        return datetime.combine(day, time(23, 59, 59), FIRM_TZ).astimezone(timezone.utc)

    def context(self) -> dict:
        """Placeholder values typed in (blank ones left out, so the service names them as missing)."""
        values = {}
        for name in self.placeholder_names:
            value = (self[CONTEXT_PREFIX + name].data or "").strip()
            if value:
                values[name] = value
        return values

    def placeholder_fields(self) -> list:
        return [self[CONTEXT_PREFIX + name] for name in self.placeholder_names]


def invitation_form(placeholders: list[str], version_choices: list[tuple[str, str]], **kwargs) -> InvitationForm:
    """An InvitationForm with a required text field for each placeholder the version needs."""
    attributes = {"placeholder_names": list(placeholders)}
    for name in placeholders:
        attributes[CONTEXT_PREFIX + name] = wtforms.StringField(
            "{" + name + "}",
            validators=[DataRequired(_l("Enter a value for {%(name)s}.", name=name)), Length(max=500)])
    form = type("InvitationFormWithContext", (InvitationForm,), attributes)(**kwargs)
    form.version.choices = [("", _l("— choose —"))] + version_choices
    return form


class _FilterForm(wtforms.Form):
    """GET filters: no CSRF (they change nothing), unknown values simply ignored."""

    def value(self, name: str) -> Optional[str]:
        field = self[name]
        return field.data if field.data and field.validate(self) else None


class InvitationFilterForm(_FilterForm):
    status = wtforms.SelectField(_l("Status"), choices=[("", _l("Any"))] + [(s.value, STATUS_LABELS[s.value]) for s in InvitationStatus])
    questionnaire = wtforms.SelectField(_l("Questionnaire"), choices=[("", _l("Any"))])
    review_type = wtforms.SelectField(_l("Review type"), choices=[("", _l("Any"))] + [(t.value, REVIEW_TYPE_LABELS[t.value]) for t in ReviewType])


class ClientSearchForm(_FilterForm):
    account = wtforms.SearchField(_l("Account starts with"), validators=[Length(max=32)])

