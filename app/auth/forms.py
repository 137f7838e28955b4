"""Forms of sign-in, password change and the administrators' staff pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from app.auth.models import Role
from app.auth.service import check_password, password_problems
from app.auth.two_factor import normalized_code

ROLE_LABELS = {
    Role.ADMIN.value: _l("Administrator"),
    Role.REVIEW_MANAGER.value: _l("Review manager"),
    Role.QUALITY_INSPECTOR.value: _l("Quality inspector"),
    Role.REVIEW_EXECUTOR.value: _l("Review executor"),
    Role.AUDITOR.value: _l("Auditor"),
}


class LoginForm(FlaskForm):
    """Staff sign-in."""

    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=200)])


class PasswordChangeForm(FlaskForm):
    """A staff member's own new password, with the current one as proof."""

    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Enter your current password.")), Length(max=200)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password."))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(_l("Enter the new password again.")),
        EqualTo("new_password", _l("The two new passwords differ."))])

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_current_password(self, field) -> None:
        """The current password must be right (someone at an unlocked screen cannot change it)."""
        if not check_password(self.user, field.data):
            raise ValidationError(_l("This is not your current password."))

    def validate_new_password(self, field) -> None:
        """The firm's password rules (app.auth.service.password_problems)."""
        problems = password_problems(self.user, field.data)
        if problems:
            raise ValidationError(" ".join(str(problem) for problem in problems))


def _role_choices():
    return [(value, label) for value, label in ROLE_LABELS.items()]


class StaffEditForm(FlaskForm):
    """An administrator's changes to an account: name, role, staff code."""

    display_name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter the name.")), Length(max=100)])
    role = SelectField(_l("Role"), choices=_role_choices)
    staff_code = StringField(_l("Staff code"), validators=[Optional(), Length(max=32)])


class StaffCreateForm(StaffEditForm):
    """A new account; its one-time password is generated."""

    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), Length(max=64)])

    field_order = ("username", "display_name", "role", "staff_code")


class CodeForm(FlaskForm):
    """The six-digit code of an authenticator app, at sign-in or when setting one up."""

    code = StringField(_l("Code from your authenticator app"), validators=[
        DataRequired(_l("Enter the 6-digit code your app shows.")), Length(max=20)])

    def validate_code(self, field) -> None:
        """Six digits; spaces and dashes, as some apps show them, are allowed."""
        if normalized_code(field.data) is None:
            raise ValidationError(_l("The code is 6 digits."))
