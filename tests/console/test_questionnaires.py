"""Questionnaire pages: publish, versions, preview, diff, retire."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.definitions.models import QuestionnaireVersion
from app.extensions import db
from tests.conftest import DATA
from tests.console.conftest import post, state

PUBLISH = "/console/questionnaires/-/publish"
ALL_TYPES = (DATA / "all_types.yaml").read_text(encoding="utf-8")


def last_audit() -> AuditEntry:
    return db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()


@pytest.mark.parametrize("source, path, line", [
    (ALL_TYPES.replace("severity: high, label: {zh-CN: 账户非本人操作", "severity: hgh, label: {zh-CN: 账户非本人操作"),
     "questions[2].options[1].flag", 23),
    (ALL_TYPES.replace("    show_if: 'own_operation == \"no\"'", "    show_if: 'nobody == \"no\"'"),
     "questions[3].show_if", 27),
    (ALL_TYPES.replace("title: {zh-CN: 全题型测试问卷, en: All question types}", "title: {zh-CN: [broken"),
     "", 4),  # a YAML syntax error: where the parser noticed it
])
def test_publish_errors_list_path_and_line_and_store_nothing(client, sign_in, app, source, path, line):
    sign_in(Role.REVIEW_MANAGER)
    before = state()
    response = post(client, PUBLISH, {"text": source})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    rows = re.findall(r'<tr class="issue"><td class="num-col">([^<]*)</td><td><code>([^<]*)</code></td>', page)
    assert (str(line), path or "—") in rows, rows
    assert "nothing was published" in page
    assert state() == before


def test_publish_from_an_uploaded_file_stores_a_version_and_audits_it(client, sign_in, app):
    user = sign_in(Role.REVIEW_MANAGER)
    response = post(client, PUBLISH, {"file": (io.BytesIO(ALL_TYPES.encode()), "all_types.yaml")},
                    content_type="multipart/form-data")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/questionnaires/all-types/v1")
    version = db.session.scalars(sa.select(QuestionnaireVersion)).one()
    assert version.published_by == f"staff:{user.username}"
    entry = last_audit()
    assert (entry.action, entry.actor, entry.object_id) == ("questionnaire.publish", f"staff:{user.username}", str(version.id))


def test_publishing_the_same_content_again_stores_nothing_new(client, sign_in, publish):
    publish("all_types")
    sign_in(Role.REVIEW_MANAGER)
    before = state()
    response = post(client, PUBLISH, {"text": ALL_TYPES}, follow_redirects=True)
    assert "already published as all-types v1" in response.get_data(as_text=True)
    assert state() == before


@pytest.mark.parametrize("data, field, message", [
    ({"text": "  "}, "text", "Choose a file or paste a definition."),
    ({"file": (io.BytesIO("key: 中".encode("gbk")), "x.yaml")}, "file", "The file is not UTF-8 text."),
])
def test_publish_without_usable_input_names_the_field(client, sign_in, app, data, field, message):
    sign_in(Role.REVIEW_MANAGER)
    before = state()
    response = post(client, PUBLISH, data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert f'<p class="error" id="{field}-error">{message}</p>' in response.get_data(as_text=True)
    assert state() == before


def test_versions_page_lists_number_hash_publisher_and_retirement(client, sign_in, seed):
    v1 = db.session.get(QuestionnaireVersion, seed.v1_id)
    v1.retired_at, v1.retired_by = v1.published_at, "staff:someone"
    db.session.commit()
    sign_in(Role.AUDITOR)
    page = client.get("/console/questionnaires/all-types").get_data(as_text=True)
    assert v1.content_hash in page and "test" in page and "staff:someone" in page
    assert page.count('class="badge retired"') == 1 and page.count('class="badge live"') == 1
    assert "Retire…" not in page  # an auditor reads only


def test_questionnaire_list_shows_latest_version_and_count(client, sign_in, seed):
    sign_in(Role.QUALITY_INSPECTOR)
    page = client.get("/console/questionnaires").get_data(as_text=True)
    row = re.search(r'all-types</a></td>.*?</tr>', page, re.S).group()
    assert ">v2</a>" in row and '<td class="num-col">2</td>' in row


@pytest.mark.parametrize("text_lang, question, flag", [
    ("zh-CN", "请问账户是您本人操作吗？", "账户非本人操作"),
    ("en", "Do you operate the account yourself?", "Account not operated by the client"),
])
def test_preview_shows_questions_flags_and_conditions_in_the_chosen_language(client, sign_in, seed, text_lang,
                                                                            question, flag):
    sign_in(Role.AUDITOR)
    page = client.get(f"/console/questionnaires/all-types/v1?text={text_lang}").get_data(as_text=True)
    assert question in page
    assert re.search(r'<li class="flagged">.*?<span class="badge sev-high">[^<]+</span> <span class="flag-label">[^<]*'
                     + re.escape(flag), page, re.S)
    assert "own_operation == &#34;no&#34;" in page  # the show_if condition, as written
    assert '<span class="num">3.</span>' in page  # numbered; the notice is not


def test_preview_keeps_placeholders_visible(client, sign_in, seed):
    sign_in(Role.AUDITOR)
    page = client.get("/console/questionnaires/all-types/v1?text=en").get_data(as_text=True)
    assert 'Dear <code class="ph">{client_name}</code>: this questionnaire is about <code class="ph">{product_name}</code>.' in page


def test_diff_shows_the_changed_and_the_added_question(client, sign_in, seed):
    sign_in(Role.QUALITY_INSPECTOR)
    page = client.get("/console/questionnaires/all-types/diff?from=1&to=2").get_data(as_text=True)
    changed = re.search(r'<tr class="diff-changed">.*?</tr>', page, re.S).group()
    assert "questions[id=own_operation].text.zh-CN" in changed
    assert "请问账户是您本人操作吗？" in changed and "请问您的账户是否由您本人操作？" in changed
    added = re.search(r'<tr class="diff-added">.*?</tr>', page, re.S).group()
    assert "questions[id=extra_note]" in added


def test_diff_of_an_unknown_version_is_404(client, sign_in, seed):
    sign_in(Role.AUDITOR)
    assert client.get("/console/questionnaires/all-types/diff?from=1&to=9").status_code == 404


def test_retire_confirmation_counts_the_invitations_it_closes(client, sign_in, seed, make_invitation):
    make_invitation(version=db.session.get(QuestionnaireVersion, seed.v1_id))
    sign_in(Role.REVIEW_MANAGER)
    page = client.get("/console/questionnaires/all-types/v1/retire").get_data(as_text=True)
    assert re.search(r'id="open-invitations">1 invitation pinned', page)


def test_retire_changes_the_state_and_is_audited(client, sign_in, seed):
    user = sign_in(Role.REVIEW_MANAGER)
    response = post(client, "/console/questionnaires/all-types/v1/retire", {"confirm": "y"})
    assert response.status_code == 303
    version = db.session.get(QuestionnaireVersion, seed.v1_id)
    db.session.refresh(version)
    assert version.is_retired and version.retired_by == f"staff:{user.username}"
    entry = last_audit()
    assert (entry.action, entry.object_id, entry.details["version"]) == ("questionnaire.retire", str(seed.v1_id), 1)


def test_retire_without_confirmation_changes_nothing(client, sign_in, seed):
    sign_in(Role.REVIEW_MANAGER)
    before = state()
    response = post(client, "/console/questionnaires/all-types/v1/retire", {})
    assert response.status_code == 422
    assert 'id="confirm-error"' in response.get_data(as_text=True)
    assert state() == before


def test_retiring_twice_records_it_once(client, sign_in, seed):
    sign_in(Role.REVIEW_MANAGER)
    post(client, "/console/questionnaires/all-types/v1/retire", {"confirm": "y"})
    before = state()
    response = post(client, "/console/questionnaires/all-types/v1/retire", {"confirm": "y"})
    assert response.status_code == 200 and "was retired on" in response.get_data(as_text=True)
    assert state() == before
