"""The client's form, each answer sent with an odd value in turn: refused with the question named and
nothing written, or accepted as the question allows and stored as typed; never a 500, never markup
sent back.

The form is read off the page the client gets (tests/html_forms.py), so a question added to the test
questionnaire (tests/data/all_types.yaml) is sent every odd value without a change here; it must then
be added to ACCEPTED if it takes any of them.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.reviews.models import Response
from tests.html_forms import ODD_TEXT, REFUSALS, crash_of, read_page, rows_and_audit, send, shows_markup
from tests.test_respond_flow import GOOD_ANSWERS, pass_identity, path_of

EVERY = set(ODD_TEXT)
# The odd values each question takes. Any other value must be refused.
ACCEPTED = {
    # "consent" takes none: a box is ticked only when the browser sends its own value ("y").
    "operator": EVERY - {"nul"},  # asked only when own_operation is "no": not asked here, so dropped
    # A number is read after NFKC, as the identity check reads its answer: "²" is 2 (full-width "１２３"
    # is 123, past the question's maximum of 80).
    "age": {"superscript digit"},
    "purchase_date": {"blank", "spaces"},  # optional, left empty
    "comment": EVERY - {"long", "nul"},  # optional free text, at most 200 characters
}


def the_form(client, invitation):
    """The client's form as the page renders it, filled with good answers."""
    pass_identity(client, invitation)
    page = read_page(path_of(invitation), client.get(path_of(invitation)).get_data(as_text=True))
    form = next(f for f in page.forms if f.method == "post" and "_action" in f.values)
    form.good = {**GOOD_ANSWERS, "_action": "submit"}
    return form


def stored_answers(invitation) -> dict | None:
    """The answers stored for the invitation, or None when nothing was stored."""
    db.session.expire_all()
    response = db.session.scalars(sa.select(Response).where(Response.invitation_id == invitation.id)).one_or_none()
    return response.answers if response else None


def expected_answer(name: str, value: str):
    """What an accepted odd value is stored as: the number it reads as, the text as typed, or nothing."""
    if name == "age":
        return 2
    if name == "comment" and value.strip():
        return value.strip()
    return None


def test_the_form_read_off_the_page_has_every_question(client, make_invitation, make_client):
    form = the_form(client, make_invitation(client=make_client(id_last4="123X")))

    assert set(form.typed) >= {"consent", "own_operation", "operator", "channels", "age", "purchase_date",
                               "satisfaction", "comment"}


@pytest.mark.parametrize("label", sorted(ODD_TEXT))
def test_each_answer_with_an_odd_value_is_refused_or_stored_as_the_question_allows(client, make_invitation,
                                                                                   make_client, label):
    value, problems = ODD_TEXT[label], []
    for name in the_form(client, make_invitation(client=make_client(id_last4="123X"))).typed:
        invitation = make_invitation(client=make_client(id_last4="123X"))
        form = the_form(client, invitation)
        before = rows_and_audit()
        response = send(client, form, name, value)
        body, status = response.get_data(as_text=True), response.status_code
        where = f"{name}={label}: {status} {crash_of(response)}"
        if status >= 500 or shows_markup(response):
            problems.append(where)
        elif label in ACCEPTED.get(name, ()):
            if status != 303 or stored_answers(invitation).get(name) != expected_answer(name, value):
                problems.append(f"{where}, expected it stored as {expected_answer(name, value)!r}")
        elif status not in REFUSALS or rows_and_audit() != before or stored_answers(invitation) is not None:
            problems.append(f"{where}, expected a refusal that writes nothing")
        elif f'href="#q-{name}"' not in body and name not in body:
            problems.append(f"{where}, the refusal does not name the question")

    assert problems == []
