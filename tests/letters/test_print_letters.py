"""The plain-Python letter layout: show_if instructions, glyph checks, the URL fetcher."""
from __future__ import annotations

from pathlib import Path

import pytest

from print_letters.glyphs import MissingGlyph, check_texts
from print_letters.instructions import condition_text, jump_targets, question_numbers
from print_letters.render import RefusedURL, make_url_fetcher, render_pdf
from questionnaires.loader import load_definition
from questionnaires.placeholders import localize

SUITABILITY = Path(__file__).resolve().parents[2] / "questionnaires" / "builtin" / "suitability.yaml"
CONTEXT = {"client_name": "张三丰", "client_risk_level": "C3", "firm_name": "汇方证券", "service_phone": "95500",
           "product_name": "稳健理财1号", "product_risk": "R3"}


@pytest.fixture(scope="module")
def questions():
    return localize(load_definition(SUITABILITY.read_text(encoding="utf-8")), "zh-CN", CONTEXT)["questions"]


def by_id(questions, qid):
    return next(q for q in questions if q["id"] == qid)


def test_notices_are_not_numbered(questions):
    numbers = question_numbers(questions)
    assert "not_holder_notice" not in numbers and numbers["is_account_holder"] == 1 and numbers["review_consent"] == 2


def test_condition_names_the_question_number_and_the_option_label(questions):
    assert condition_text(by_id(questions, "own_operation"), questions, "zh-CN") == "（仅当第1题选择“是”时回答本题）"


def test_condition_with_several_values_lists_them_with_or(questions):
    text = condition_text(by_id(questions, "sales_conduct_details"), questions, "en")
    assert text.startswith("(Answer only if you answered “") and "” or “" in text and "question 14" in text


def test_no_answer_skips_to_the_end(questions):
    assert jump_targets(by_id(questions, "is_account_holder"), questions, "zh-CN") == {"no": "→ 请跳至问卷末尾签名处"}


def test_option_that_skips_follow_up_questions_says_where_to_go(questions):
    assert jump_targets(by_id(questions, "staff_violation"), questions, "en") == {"no": "→ go to question 14"}


def test_jump_uses_the_printed_number_of_the_next_shown_question():
    definition = load_definition("""
key: jumps
title: {zh-CN: 跳题, en: Jumps}
review_type: other
identity_check: none
questions:
  - {id: a, type: yes_no, text: {zh-CN: 甲, en: A}}
  - {id: b, type: text, show_if: 'a == "yes"', text: {zh-CN: 乙, en: B}}
  - {id: c, type: text, show_if: 'a == "yes"', text: {zh-CN: 丙, en: C}}
  - {id: d, type: text, text: {zh-CN: 丁, en: D}}
""")
    questions = localize(definition, "en", {})["questions"]
    assert jump_targets(questions[0], questions, "en") == {"no": "→ go to question 4"}


def test_missing_glyph_names_the_field_and_the_character():
    with pytest.raises(MissingGlyph) as raised:
        check_texts([("recipient_name", "张三丰"), ("postal_address", "上海市\U000F0000路")])
    assert raised.value.field == "postal_address" and "U+F0000" in str(raised.value)


def test_common_chinese_and_latin_text_is_covered():
    check_texts([("text", "尊敬的张三丰：请于2026-12-31前答复。Dear Mr Zhang, (1) → “是”/“否” √ 〇")])


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://example.com/x.png", "https://127.0.0.1/logo.png"])
def test_fetcher_refuses_urls_it_was_not_given(url):
    with pytest.raises(RefusedURL):
        make_url_fetcher()(url)


def test_fetcher_serves_the_resources_it_was_given():
    assert make_url_fetcher({"res:logo": b"x"})("res:logo")["string"] == b"x"


def test_a_file_url_in_a_document_is_not_embedded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    pdf = render_pdf([f'<p>hi</p><img src="file://{secret}"><iframe src="file://{secret}"></iframe>'], "")
    assert b"TOPSECRET" not in pdf
