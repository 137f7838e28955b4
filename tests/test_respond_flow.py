"""The client's path through a signed link: identity, form, draft, submit, receipt."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.reviews import service
from app.reviews.models import (
    IdentityAttempt, Invitation, InvitationStatus, ReviewException, ReviewRegistration, Response,
)
from tests.conftest import csrf_from
from tests.dbsetup import postgresql_only

GOOD_ANSWERS = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}


def path_of(invitation) -> str:
    return urlsplit(service.invitation_url(invitation)).path


def pass_identity(client, invitation, answer="123x"):
    page = client.get(path_of(invitation) + "/identity")
    return client.post(path_of(invitation) + "/identity",
                       data={"answer": answer, "csrf_token": csrf_from(page.get_data(as_text=True))})


def ready_to_submit(client, invitation) -> tuple[str, dict]:
    """Pass the identity check and open the form: the form's URL and good answers to POST there."""
    pass_identity(client, invitation)
    url = path_of(invitation)
    return url, {**GOOD_ANSWERS, "csrf_token": csrf_from(client.get(url).get_data(as_text=True)), "_action": "submit"}


def submit_as_a_new_request(client, invitation, recorder: list) -> None:
    """Submit good answers from a session with no open transaction; `recorder` keeps only the POST's statements."""
    url, data = ready_to_submit(client, invitation)
    db.session.commit()  # as in a real request: the session starts with no transaction
    recorder.clear()
    assert client.post(url, data=data).status_code == 303


def submit(client, invitation, answers, action="submit"):
    page = client.get(path_of(invitation))
    data = {**answers, "csrf_token": csrf_from(page.get_data(as_text=True)), "_action": action}
    return client.post(path_of(invitation), data=data)


def test_link_asks_identity_before_the_first_question(client, make_invitation):
    invitation = make_invitation()
    response = client.get(path_of(invitation))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/identity")


def test_right_identity_answer_opens_the_form_with_filled_placeholders(client, make_invitation):
    invitation = make_invitation(context={"product_name": "稳健理财1号"})
    assert pass_identity(client, invitation).status_code == 303
    page = client.get(path_of(invitation)).get_data(as_text=True)
    assert "稳健理财1号" in page and "张三丰" in page
    assert "{product_name}" not in page


def test_wrong_identity_answers_lock_the_invitation_after_five(client, make_invitation):
    invitation = make_invitation()
    statuses = [pass_identity(client, invitation, "0000").status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 423]
    assert client.get(path_of(invitation) + "/identity").status_code == 423
    tries = db.session.scalar(sa.select(sa.func.count()).select_from(IdentityAttempt))
    assert tries == 5


def test_submit_stores_one_response_against_the_pinned_version(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    response = submit(client, invitation, GOOD_ANSWERS)
    assert response.status_code == 303 and response.headers["Location"].endswith("/receipt")
    stored = db.session.scalars(sa.select(Response)).one()
    assert stored.version_hash == invitation.version.content_hash
    assert stored.answers == {"consent": True, "own_operation": "yes", "age": 12, "satisfaction": 4}
    assert not stored.flagged
    db.session.refresh(invitation)
    assert invitation.status is InvitationStatus.COMPLETED
    registration = db.session.scalars(sa.select(ReviewRegistration)).one()
    assert registration.review_type.value == "suitability" and registration.method == "questionnaire"


def test_receipt_shows_the_receipt_number(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    submit(client, invitation, GOOD_ANSWERS)
    page = client.get(path_of(invitation) + "/receipt").get_data(as_text=True)
    receipt_no = db.session.scalars(sa.select(Response.receipt_no)).one()
    assert receipt_no in page


def test_link_shows_the_receipt_never_a_second_form_after_submitting(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    submit(client, invitation, GOOD_ANSWERS)
    again = client.get(path_of(invitation))
    assert again.status_code == 303 and again.headers["Location"].endswith("/receipt")


def test_replayed_post_stores_exactly_one_response(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    page = client.get(path_of(invitation))
    data = {**GOOD_ANSWERS, "csrf_token": csrf_from(page.get_data(as_text=True)), "_action": "submit"}
    first = client.post(path_of(invitation), data=data)
    second = client.post(path_of(invitation), data={**data, "satisfaction": "1"})
    assert first.status_code == second.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1
    assert db.session.scalars(sa.select(Response.answers)).one()["satisfaction"] == 4


def test_flagged_answer_records_an_exception(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    submit(client, invitation, {**GOOD_ANSWERS, "own_operation": "no", "operator": "staff", "satisfaction": "1"})
    exceptions = db.session.scalars(sa.select(ReviewException).order_by(ReviewException.question_id)).all()
    assert [(e.question_id, e.severity.value) for e in exceptions] == [
        ("operator", "high"), ("own_operation", "high"), ("satisfaction", "low")]
    assert db.session.scalars(sa.select(Response.flagged)).one() is True


@pytest.mark.parametrize("field, value, message_part", [
    ("age", "abc", "number"),
    ("age", "200", "80"),
    ("satisfaction", "9", ""),
    ("own_operation", "maybe", ""),
])
def test_wrong_answers_are_refused_and_kept_as_draft(client, make_invitation, field, value, message_part):
    invitation = make_invitation()
    pass_identity(client, invitation)
    response = submit(client, invitation, {**GOOD_ANSWERS, field: value})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="e-{field}"' in page and message_part in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
    db.session.refresh(invitation)
    assert invitation.draft_answers.get("consent") is True


def test_missing_required_answer_names_the_question(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    answers = dict(GOOD_ANSWERS)
    del answers["age"]
    response = submit(client, invitation, answers)
    assert response.status_code == 422
    assert 'href="#q-age"' in response.get_data(as_text=True)


def test_saved_draft_is_shown_when_the_client_comes_back(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    assert submit(client, invitation, {"age": "33", "comment": "以后再说"}, action="save").status_code == 200
    page = client.get(path_of(invitation)).get_data(as_text=True)
    assert 'value="33"' in page and "以后再说" in page


def _flip(char: str) -> str:
    return "B" if char == "A" else "A"


# A changed character in the middle of the signature: the last base64 character may only carry
# padding bits, so changing it does not always change the signature.
@pytest.mark.parametrize("mangle", [lambda t: t[:-10] + _flip(t[-10]) + t[-9:], lambda t: "garbage",
                                    lambda t: t + "a"])
def test_tampered_link_gets_a_friendly_404(client, make_invitation, mangle):
    invitation = make_invitation()
    token = path_of(invitation).rsplit("/", 1)[1]
    response = client.get("/q/" + mangle(token))
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)


def test_expired_invitation_gets_410(client, make_invitation, days):
    invitation = make_invitation()
    invitation.expires_at = days(-1)
    db.session.commit()
    assert client.get(path_of(invitation) + "/identity").status_code == 410


def test_retired_version_link_gets_410(client, make_invitation):
    from app.definitions.service import retire_version

    invitation = make_invitation()
    retire_version(invitation.version, "test")
    db.session.commit()
    assert client.get(path_of(invitation) + "/identity").status_code == 410


def test_link_signed_with_an_old_key_still_verifies(app, client, make_invitation):
    from delivery.links import LinkSigner

    invitation = make_invitation()
    old_token = LinkSigner(["test-old-key"], 3600).sign(invitation.public_id)
    assert client.get(f"/q/{old_token}").status_code == 303


def test_pages_carry_headers_that_keep_the_token_from_leaking(client, make_invitation):
    invitation = make_invitation()
    response = client.get(path_of(invitation) + "/identity")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_post_without_csrf_token_is_refused(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    response = client.post(path_of(invitation), data={**GOOD_ANSWERS, "_action": "submit"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0


def test_short_link_redirects_to_the_signed_link(client, make_invitation):
    invitation = make_invitation()
    response = client.get(f"/s/{invitation.short_code}")
    assert response.status_code == 303
    # The link is signed at the redirect, with that second's timestamp: compare what it carries.
    target = urlsplit(response.headers["Location"]).path
    assert target.startswith("/q/") and target.count("/") == 2
    assert service.link_signer().verify(target.removeprefix("/q/")) == invitation.public_id


def test_english_is_chosen_from_accept_language(client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    page = client.get(path_of(invitation), headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Do you operate the account yourself?" in page


def test_chinese_is_the_default_without_accept_language(client, make_invitation):
    invitation = make_invitation()
    page = client.get(path_of(invitation) + "/identity", headers={"Accept-Language": ""}).get_data(as_text=True)
    assert "身份证" in page and 'lang="zh-CN"' in page


def test_language_switch_is_remembered_in_a_cookie(client, make_invitation):
    invitation = make_invitation()
    client.get(path_of(invitation) + "/identity?lang=zh-CN")
    page = client.get(path_of(invitation) + "/identity").get_data(as_text=True)
    assert 'lang="zh-CN"' in page


def test_receipt_time_is_shown_in_the_firms_time_zone(client, make_invitation):
    from datetime import timezone
    from zoneinfo import ZoneInfo

    invitation = make_invitation()
    pass_identity(client, invitation)
    submit(client, invitation, GOOD_ANSWERS)
    submitted = db.session.scalars(sa.select(Response.submitted_at)).one()
    local = submitted.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert submitted.tzinfo is timezone.utc
    assert local in client.get(path_of(invitation) + "/receipt").get_data(as_text=True)


# --- cost of the client's path (docs/perf-client.md) ----------------------------------------------

# The core's own: load (1), lock (1; on PostgreSQL the load takes it), invitation update (1), response and registration (2), audit
# entry (3) = 8; the other areas' rows linked to the invitation (mandatory session, campaign
# target, callback), looked up in one statement (1), archive (1) and stats (one INSERT per run of
# rows with the same columns: 3 for this questionnaire's answers) = 5. It was 25, then 17 with one
# lookup per area (docs/perf-client.md).
SUBMIT_STATEMENTS_AT_MOST = 14


def test_submit_runs_at_most_a_fixed_number_of_statements(client, make_invitation, count_statements):
    url, data = ready_to_submit(client, make_invitation())
    count_statements.clear()
    assert client.post(url, data=data).status_code == 303
    assert len(count_statements) <= SUBMIT_STATEMENTS_AT_MOST, "\n".join(count_statements)


@pytest.mark.parametrize("step", ["link", "identity", "receipt"])
def test_each_page_of_the_path_loads_the_invitation_in_one_statement(client, make_invitation, count_statements, step):
    invitation = make_invitation()
    if step == "receipt":
        pass_identity(client, invitation)
        submit(client, invitation, GOOD_ANSWERS)
    url = path_of(invitation) + {"link": "", "identity": "/identity", "receipt": "/receipt"}[step]
    count_statements.clear()
    assert client.get(url).status_code in (200, 303)
    assert len(count_statements) == 1, "\n".join(count_statements)


def test_definition_cache_is_keyed_by_content_hash_not_only_by_id(app, publish):
    from app.respond.loading import _definitions, _lock, cached_definition

    version = publish()
    with _lock:  # what a version with the same id but other content (a rebuilt database) left behind
        _definitions[(version.id, "sha256:" + "0" * 64)] = {"title": "someone else's questionnaire"}
    assert cached_definition(version.id, version.content_hash) == version.definition


def test_definition_cache_serves_each_version_its_own_content(app, publish):
    from app.respond.loading import cached_definition

    first = publish()
    changed = first.source.replace("min: 0", "min: 1") if "min: 0" in first.source else first.source + "\n# v2\n"
    second = publish(changed.replace("title:", "title:", 1) if changed != first.source else changed)
    assert cached_definition(first.id, first.content_hash) == first.definition
    assert cached_definition(second.id, second.content_hash) == second.definition
    assert cached_definition(first.id, first.content_hash) == first.definition


def test_pages_never_change_the_cached_definition(client, make_invitation):
    import copy

    from app.respond.loading import cached_definition

    invitation = make_invitation()
    before = copy.deepcopy(cached_definition(invitation.version_id, invitation.version.content_hash))
    pass_identity(client, invitation)
    submit(client, invitation, {**GOOD_ANSWERS, "age": "oops"})  # refused: rendered with errors
    submit(client, invitation, GOOD_ANSWERS)
    client.get(path_of(invitation) + "/receipt")
    assert cached_definition(invitation.version_id, invitation.version.content_hash) == before


def test_second_submit_with_invalid_answers_returns_the_stored_response(app, make_invitation):
    invitation = make_invitation()
    first, created = service.submit_response(invitation, GOOD_ANSWERS, "zh-CN")
    db.session.commit()
    again, created_again = service.submit_response(invitation, {"age": "not a number"}, "zh-CN")
    assert created and not created_again and again.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_linked_rows_finds_each_areas_row_of_an_invitation_in_one_statement(app, make_invitation, count_statements):
    from app.api.service import create_api_key
    from app.reviews.signals import linked_rows
    from app.webhooks.service import register_invitation_callback

    with_callback, without = make_invitation(), make_invitation()
    key, _secret = create_api_key("linked", callback_prefixes=["http://127.0.0.1:"])
    callback = register_invitation_callback(with_callback.id, key, "http://127.0.0.1:9/cb")
    count_statements.clear()
    found = linked_rows(db.session, with_callback.id)
    assert len(count_statements) == 1
    assert found == {"mandatory_session": None, "invitation_callback": callback.id, "campaign_target": None}
    assert set(linked_rows(db.session, without.id).values()) == {None}


@pytest.fixture
def statement_modes(app):
    """Records (verb, autocommit?) for each statement sent while the fixture is active (PostgreSQL)."""
    seen = []

    def listener(conn, cursor, statement, *args):
        seen.append((statement.split()[0], conn.connection.driver_connection.autocommit))

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    yield seen
    sa.event.remove(db.engine, "before_cursor_execute", listener)


@postgresql_only("BEGIN and ROLLBACK are round trips there")
@pytest.mark.parametrize("step", ["link", "identity", "form", "receipt"])
def test_client_pages_read_without_a_transaction_on_postgresql(client, make_invitation, statement_modes, step):
    invitation = make_invitation()
    if step in ("form", "receipt"):
        pass_identity(client, invitation)
    if step == "receipt":
        submit(client, invitation, GOOD_ANSWERS)
    url = path_of(invitation) + {"link": "", "identity": "/identity", "form": "", "receipt": "/receipt"}[step]
    db.session.commit()  # as in a real request: the session starts with no transaction
    statement_modes.clear()
    assert client.get(url).status_code in (200, 303)
    assert statement_modes and all(autocommit for _verb, autocommit in statement_modes), statement_modes
    # The connection went back to the pool in its default mode: what follows is transactional.
    assert db.session.connection().connection.driver_connection.autocommit is False


@postgresql_only("the pages' reads run without a transaction there, the submit must not")
def test_submit_stays_one_transaction_on_postgresql(client, make_invitation, statement_modes):
    submit_as_a_new_request(client, make_invitation(), statement_modes)
    assert {verb for verb, _ in statement_modes} >= {"INSERT", "UPDATE"}
    assert not any(autocommit for _verb, autocommit in statement_modes), statement_modes


@postgresql_only("SQLite has no row locks (it takes its write lock instead)")
def test_submit_reads_the_invitation_once_and_locks_it_then_on_postgresql(client, make_invitation,
                                                                         count_statements):
    submit_as_a_new_request(client, make_invitation(), count_statements)
    reads = [s for s in count_statements if s.lstrip().startswith("SELECT") and "FROM invitations" in s]
    assert len(reads) == 1, "\n".join(reads)
    assert "FOR UPDATE OF invitations" in reads[0]


@postgresql_only("SQLite has no row locks")
def test_a_lock_taken_before_a_commit_is_taken_again_after_it(app, make_invitation, count_statements):
    from app.locking import lock_for_update, remember_locked
    from app.reviews.models import Invitation

    invitation = make_invitation()
    db.session.refresh(invitation, with_for_update=True)  # the route's first read, with its lock
    remember_locked(invitation)
    count_statements.clear()
    assert lock_for_update(Invitation, invitation.id) is invitation and count_statements == []
    db.session.commit()
    assert lock_for_update(Invitation, invitation.id).id == invitation.id
    assert any("FOR UPDATE" in statement for statement in count_statements)


def test_opening_the_form_marks_it_opened_and_the_mark_is_stored(app, client, make_invitation):
    invitation = make_invitation()
    pass_identity(client, invitation)
    url = path_of(invitation)
    db.session.commit()
    assert client.get(url).status_code == 200
    db.session.rollback()  # what was stored, not what this session remembers
    assert invitation.status is InvitationStatus.OPENED and invitation.first_opened_at is not None


def test_the_opened_mark_leaves_an_invitation_cancelled_meanwhile_as_it_is(app, make_invitation):
    invitation = make_invitation()
    assert invitation.status is InvitationStatus.PENDING
    # Staff cancel it in another transaction after this request read it as pending.
    with db.engine.begin() as other:
        other.execute(sa.update(Invitation.__table__).where(Invitation.__table__.c.id == invitation.id)
                      .values(status=InvitationStatus.CANCELLED))
    assert service.mark_opened(invitation) is False
    db.session.commit()
    db.session.refresh(invitation)
    assert invitation.status is InvitationStatus.CANCELLED and invitation.first_opened_at is None
