"""Keying and reprint refusals read in the staff's language on console pages, and stay English as text."""
from __future__ import annotations

import io
import pickle

import pytest

from app.auth.models import Role
from app.extensions import db
from app.reviews.models import InvitationStatus
from tests.conftest import csrf_from
from tests.letters.test_keying import TYPED

ZH = {"Accept-Language": "zh-CN"}


def key_in(client, letter, typed, headers, scan=None):
    page = client.get(f"/console/letters/key/{letter.code}", headers=headers)
    data = {**typed, "csrf_token": csrf_from(page.get_data(as_text=True))}
    if scan is not None:
        data["scan"] = scan
    return client.post(f"/console/letters/key/{letter.code}", data=data, content_type="multipart/form-data",
                       headers=headers)


@pytest.mark.parametrize("typed, scan, shown", [
    ({**TYPED, "own_operation": "7"}, None, "第 3 题：没有选项 7（可选 1–2）"),
    ({**TYPED, "review_consent": ""}, None, "第 2 题：请阅读并确认后继续。"),  # the answer checker's own reason
    (TYPED, (io.BytesIO(b"MZ\x90\x00 not a scan"), "scan.exe"), "“scan.exe”不是 PDF 或图片"),
])
def test_a_keying_refusal_reads_in_chinese_for_chinese_staff(client, login, printed_letter, typed, scan, shown):
    letter, _batch = printed_letter()
    login(Role.REVIEW_EXECUTOR)
    response = key_in(client, letter, typed, ZH, scan)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and shown in page and "question" not in page


def test_a_reprint_refusal_reads_in_chinese_for_chinese_staff(client, login, printed_letter):
    letter, _batch = printed_letter()
    letter.invitation.status = InvitationStatus.CANCELLED
    db.session.commit()
    login()
    page = client.get("/console/letters/", headers=ZH)
    response = client.post("/console/letters/reprint", headers=ZH, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "letter_id": letter.code})
    assert response.status_code == 409
    assert f"信函 {letter.code} 无法重印：该邀请已取消" in response.get_data(as_text=True)


def test_a_refusal_naming_the_answer_checkers_reason_stays_english_as_text(app):
    from app.letters.keying import answer_refusal

    refusal = answer_refusal(2, {"zh-CN": "请回答此问题。", "en": "Please answer this question."})
    copy = pickle.loads(pickle.dumps(refusal))
    with app.test_request_context("/console/", headers=ZH):
        assert copy == refusal == "question 2: Please answer this question."  # the audit log, the CLI
        assert copy.localized() == "第 2 题：请回答此问题。"
