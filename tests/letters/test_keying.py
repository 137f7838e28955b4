"""Keying returned paper: double entry, differences, 6.3, duplicates, bad input; the archive register."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.auth.models import Role
from app.extensions import db
from app.letters.models import ArchiveEntry, LetterEntry, LetterScan, LetterStatus
from app.reviews.models import Channel, Response
from tests.conftest import csrf_from

# Option numbers as typed from the paper: 1 = 是 / first option.
TYPED = {"is_account_holder": "1", "review_consent": "1", "own_operation": "1", "applied_of_own_will": "1",
         "signed_voluntarily": "1", "knows_business_rules": "1", "read_risk_disclosure": "1",
         "knows_risk_levels": "1", "knows_fees": "1", "knows_possible_losses": "1", "staff_violation": "2",
         "sales_conduct": "4", "suggestions": "服务很好"}


def key(client, letter, typed, scan=None):
    page = client.get(f"/console/letters/key/{letter.code}")
    data = {**typed, "csrf_token": csrf_from(page.get_data(as_text=True))}
    if scan is not None:
        data["scan"] = scan
    return client.post(f"/console/letters/key/{letter.code}", data=data, content_type="multipart/form-data")


def switch_to(client, login, role=Role.REVIEW_EXECUTOR, **overrides):
    """Sign out and sign in as another, new staff member."""
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/console/").get_data(as_text=True))})
    return login(role, **overrides)


def test_two_matching_entries_store_the_response_with_channel_letter(client, login, printed_letter):
    letter, _batch = printed_letter()
    first = login(Role.REVIEW_EXECUTOR)
    assert key(client, letter, TYPED).status_code == 303
    switch_to(client, login)
    assert key(client, letter, TYPED).status_code == 303
    response = db.session.scalars(sa.select(Response)).one()
    assert response.channel is Channel.LETTER and response.entered_by == first.username
    assert response.answers["sales_conduct"] == ["none"] and response.answers["staff_violation"] == "no"
    db.session.refresh(letter)
    assert letter.status is LetterStatus.COMPLETED and letter.response_id == response.id


def test_first_entry_alone_stores_no_response(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    key(client, letter, TYPED)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
    db.session.refresh(letter)
    assert letter.status is LetterStatus.FIRST_ENTRY


def test_the_same_staff_member_cannot_verify_own_entry(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    key(client, letter, TYPED)
    response = client.get(f"/console/letters/key/{letter.code}")
    assert response.status_code == 409 and "second staff member" in response.get_data(as_text=True)


def test_differences_are_shown_and_resolved(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    key(client, letter, TYPED)
    switch_to(client, login)
    response = key(client, letter, {**TYPED, "knows_fees": "2"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/verify/{letter.code}")
    page = client.get(f"/console/letters/verify/{letter.code}").get_data(as_text=True)
    assert page.count('class="difference"') == 1 and 'data-question="knows_fees"' in page
    resolved = client.post(f"/console/letters/verify/{letter.code}",
                           data={"knows_fees": "2", "csrf_token": csrf_from(page)})
    assert resolved.status_code == 303
    assert db.session.scalars(sa.select(Response)).one().answers["knows_fees"] == "no"


@pytest.mark.parametrize("round_", [1, 2])
def test_servicing_staff_may_neither_key_nor_verify(client, login, printed_letter, make_client, round_):
    letter, _batch = printed_letter(make_client(servicing_staff_code="S777"))
    if round_ == 2:
        login(Role.REVIEW_EXECUTOR)
        key(client, letter, TYPED)
        switch_to(client, login, staff_code="S777")
    else:
        login(Role.REVIEW_EXECUTOR, staff_code="S777")
    response = client.get(f"/console/letters/key/{letter.code}")
    assert response.status_code == 403 and "6.3" in response.get_data(as_text=True)


def test_unknown_letter_id_gets_a_clear_404(client, login):
    login(Role.REVIEW_EXECUTOR)
    response = client.get("/console/letters/key/HL-2222-3333")
    assert response.status_code == 404 and "HL-2222-3333" in response.get_data(as_text=True)


def test_letter_already_keyed_is_refused(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    key(client, letter, TYPED)
    switch_to(client, login)
    key(client, letter, TYPED)
    switch_to(client, login)
    response = client.get(f"/console/letters/key/{letter.code}")
    assert response.status_code == 409 and "already keyed" in response.get_data(as_text=True)


@pytest.mark.parametrize("typed, field", [
    ({**TYPED, "own_operation": "7"}, "there is no option 7"),
    ({**TYPED, "review_consent": ""}, "question 2"),
])
def test_bad_typing_names_the_question_and_stores_nothing(client, login, printed_letter, typed, field):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    response = key(client, letter, typed)
    assert response.status_code == 422 and field in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterEntry)) == 0


def test_scan_that_is_not_a_pdf_or_image_is_refused(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    response = key(client, letter, TYPED, scan=(io.BytesIO(b"MZ\x90\x00 not a scan"), "scan.exe"))
    assert response.status_code == 422 and "not a PDF or an image" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterEntry)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterScan)) == 0


def test_pdf_scan_is_kept_with_the_letter(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    key(client, letter, TYPED, scan=(io.BytesIO(b"%PDF-1.7\n%scan"), "scan.pdf"))
    scan = db.session.scalars(sa.select(LetterScan)).one()
    assert scan.content_type == "application/pdf" and scan.letter_id == letter.id


def test_paper_after_an_online_answer_is_refused_as_a_duplicate(client, login, printed_letter):
    from app.reviews.service import submit_response
    letter, _batch = printed_letter()
    submit_response(letter.invitation, {"is_account_holder": "no"}, "zh-CN", channel=Channel.LINK)
    db.session.commit()
    login(Role.REVIEW_EXECUTOR)
    response = key(client, letter, TYPED)
    assert response.status_code == 303
    db.session.refresh(letter)
    assert letter.status is LetterStatus.DUPLICATE and "receipt" in letter.duplicate_note
    assert db.session.scalars(sa.select(Response)).one().channel is not Channel.LETTER
    page = client.get("/console/letters/key").get_data(as_text=True)
    assert letter.code in page


def test_every_completed_review_gets_an_archive_register_row(make_invitation):
    from app.reviews.service import submit_response

    invitation = make_invitation()
    submit_response(invitation, {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}, "zh-CN")
    db.session.commit()
    row = db.session.scalars(sa.select(ArchiveEntry)).one()
    assert (row.client_account, row.client_name, row.archived_by) == (invitation.client.account, "张三丰", "系统自动归档")
    assert "回执" in row.remarks


def test_keyed_letter_is_archived_by_the_verifier(client, login, printed_letter):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR, display_name="录入员甲")
    key(client, letter, TYPED)
    switch_to(client, login, display_name="复核员乙")
    key(client, letter, TYPED)
    row = db.session.scalars(sa.select(ArchiveEntry)).one()
    assert row.archived_by == "复核员乙" and "录入员甲" in row.remarks and letter.code in row.remarks


@pytest.mark.parametrize("fmt, magic", [("csv", "序号,归档日期,客户账号,客户姓名,回访任务名称,归档人姓名,备注".encode()),
                                        ("xlsx", b"PK\x03\x04")])
def test_archive_register_exports(client, login, make_invitation, fmt, magic):
    from app.reviews.service import submit_response

    invitation = make_invitation()
    submit_response(invitation, {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}, "zh-CN")
    db.session.commit()
    login(Role.QUALITY_INSPECTOR)
    data = client.get(f"/console/letters/archive?format={fmt}").data
    assert magic in data[:200]
    if fmt == "xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data)).active
        assert [c.value for c in sheet[2]][2:4] == [invitation.client.account, "张三丰"]


def test_archive_register_filters_by_account(client, login, make_invitation, make_client):
    from app.reviews.service import submit_response

    answers = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}
    for account in ("K0000001", "K0000002"):
        submit_response(make_invitation(client=make_client(account=account)), answers, "zh-CN")
    db.session.commit()
    login(Role.AUDITOR)
    page = client.get("/console/letters/archive?account=K0000002").get_data(as_text=True)
    assert "K0000002" in page and "K0000001" not in page


def test_archive_register_refuses_a_bad_date(client, login):
    login(Role.AUDITOR)
    response = client.get("/console/letters/archive?date_from=yesterday")
    assert response.status_code == 422 and "YYYY-MM-DD" in response.get_data(as_text=True)


def test_archival_copy_is_pdf_a3_with_the_answers_attached(client, login, make_invitation, tmp_path):
    import json
    import subprocess

    from pypdf import PdfReader

    from app.reviews.service import submit_response

    invitation = make_invitation()
    response, _ = submit_response(invitation, {"consent": "y", "own_operation": "yes", "age": "12",
                                               "satisfaction": "4"}, "zh-CN")
    db.session.commit()
    login(Role.QUALITY_INSPECTOR)
    pdf = client.get(f"/console/letters/responses/{response.id}/archive.pdf").data
    reader = PdfReader(io.BytesIO(pdf))
    attached = json.loads(reader.attachments["answers.json"][0])
    assert attached["answers"] == response.answers and attached["receipt_no"] == response.receipt_no
    assert reader.xmp_metadata is not None and b"pdfaid" in reader.xmp_metadata.stream.get_data()
    path = tmp_path / "a.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    from app.letters.archive import answers_document, content_hash

    assert content_hash(answers_document(response))[7:40] in text.replace("\n", "")
    assert response.receipt_no in text
