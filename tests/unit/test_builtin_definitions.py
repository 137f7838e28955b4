"""The built-in questionnaire definitions in questionnaires/builtin/.

One definition per review type of T/SAC 002—2024 (5.1, 附录A table A.1), each opening with the
E.1 step (identity, consent to a short review), asking the E.2.x questions, closing with E.3, and
flagging every answer that may reveal a violation (8.4).

The structural checks read the raw YAML, so they do not depend on what the loader returns; the
loader itself is exercised by test_loads_with_the_loader.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "questionnaires" / "builtin"
FILES = sorted(p for p in BUILTIN_DIR.iterdir() if p.is_file() and not p.name.startswith("."))

# review_type -> identity check. `other` (5.1.4) has no built-in questionnaire.
REVIEW_TYPES = {
    "new_account": "id_last4",
    "new_permission": "id_last4",
    "abnormal": "id_last4",
    "suitability": "id_last4",
    "broker_practice": "id_last4",
    "private_fund": "id_last4",
    "departing_staff": "id_last4",
    "complained_staff": "id_last4",
    "complaint_closure": "birth_date",
}

# Placeholders filled by the app without being passed (docs/questionnaire-format.md).
AUTO_PLACEHOLDERS = {"client_name", "client_risk_level", "firm_name", "service_phone"}
# Placeholders the invitation's context must supply for the built-in questionnaires.
CONTEXT_PLACEHOLDERS = {
    "permission_name": "the trading permission granted (new_permission)",
    "abnormal_kind": "the abnormal situation, e.g. 资金划转 (abnormal, E.2.2 b)",
    "product_name": "the product bought or service taken (suitability, private_fund)",
    "product_risk": "the product's risk level, e.g. R4 (suitability)",
    "staff_name": "the staff member reviewed (broker_practice, departing_staff, complained_staff)",
    "new_staff_name": "the new account manager (departing_staff, E.2.5 c)",
    "new_staff_contact": "how to reach the new account manager (departing_staff, E.2.5 c)",
    "complaint_date": "the date of the complaint (complaint_closure, E.2.7 a)",
    "complaint_subject": "what the complaint was about (complaint_closure, E.2.7 a)",
}

# Questions whose answer may reveal a violation (8.4): staff operating the account, discretionary
# authority, not own will / not own operation, promised returns, lent accounts, not the holder.
# Any such question asked as yes_no / single_choice / multiple_choice must flag at least one
# option, with severity high.
VIOLATION_QUESTION_IDS = {
    "is_account_holder",
    "own_intent",
    "own_operation",
    "own_decision",
    "operated_by",
    "applied_of_own_will",
    "signed_voluntarily",
    "signed_personally",
    "signed_risk_disclosure_personally",
    "bought_for_self",
    "agent_identity_confirmed",
    "agent_authority_confirmed",
    "permission_change_confirmed",
    "staff_operated_account",
    "discretionary_authority",
    "staff_violation",
    "staff_violation_kinds",
    "sales_conduct",
    "promised_returns",
    "lent_account",
    "borrowed_account",
}
# yes_no questions that are neutral by design (no answer reveals a violation).
NEUTRAL_YES_NO_IDS = {"opened_by_agent"}
CHOICE_TYPES = {"yes_no", "single_choice", "multiple_choice"}
SATISFACTION_VALUES = ["very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied"]

# The points each review type must cover (附录A table A.1, 附录E), by question id.
REQUIRED_QUESTIONS = {
    "new_account": {  # E.2.1, 附录A row 1
        "own_intent", "opened_by_agent", "agent_identity_confirmed", "agent_authority_confirmed",
        "read_agreement", "read_risk_disclosure", "knows_market_rule_differences", "password_notice",
    },
    "new_permission": {  # 附录A row 2
        "permission_change_confirmed", "applied_of_own_will", "staff_operated_account",
        "read_risk_disclosure", "knows_risk_levels", "knows_fees", "knows_possible_losses",
        "discretionary_authority",
    },
    "abnormal": {"own_operation", "lent_account", "borrowed_account", "abnormal_warning"},  # E.2.2
    "suitability": {  # E.2.3 a–g, 附录A row 4
        "own_operation", "applied_of_own_will", "signed_voluntarily", "knows_business_rules",
        "read_risk_disclosure", "knows_risk_levels", "knows_fees", "knows_possible_losses",
        "staff_violation", "update_details_notice", "sales_conduct",
    },
    "broker_practice": {"staff_satisfaction", "staff_violation"},  # E.2.4, 附录A row 5
    "departing_staff": {  # E.2.5, 附录A row 6
        "staff_satisfaction", "staff_violation", "staff_violation_kinds", "new_staff_notice",
    },
    "complained_staff": {"staff_satisfaction", "staff_violation"},  # E.2.6
    "complaint_closure": {"unresolved_matters", "handling_satisfaction", "service_satisfaction"},  # E.2.7
    "private_fund": {  # 附录A row 6, 私募投资基金募集行为管理办法 第三十条
        "bought_for_self", "own_decision", "signed_personally", "read_fund_contract",
        "read_risk_disclosure", "knows_risk_levels", "knows_fees", "knows_investor_rights",
        "knows_information_disclosure", "knows_possible_losses", "knows_cooling_off_start",
        "knows_cooling_off_length", "knows_cooling_off_rights", "knows_dispute_resolution",
    },
}

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}")


def _raw(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _bilingual_texts(value):
    if isinstance(value, dict) and set(value) == {"zh-CN", "en"}:
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _bilingual_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _bilingual_texts(item)


def _placeholders(definition: dict) -> set[str]:
    return {
        match.group(1)
        for text in _bilingual_texts(definition)
        for language in ("zh-CN", "en")
        for match in _PLACEHOLDER.finditer(text[language])
        if match.group(1)
    }


def _declared_context(path: Path) -> set[str]:
    """The names listed in the file's `# Invitation context placeholders:` comment."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# Invitation context placeholders:"):
            names = line.split(":", 1)[1].strip()
            return set() if names == "none" else {name.strip() for name in names.split(",")}
    raise AssertionError(f"{path.name}: no '# Invitation context placeholders:' comment")


def _answered(questions: list[dict]) -> list[dict]:
    return [q for q in questions if q["type"] != "notice"]


def _flags(question: dict) -> list[dict]:
    return [option["flag"] for option in question.get("options", []) if "flag" in option]


@pytest.fixture(params=FILES, ids=[p.name for p in FILES])
def path(request) -> Path:
    return request.param


@pytest.fixture
def definition(path) -> dict:
    return _raw(path)


def test_there_are_builtin_definitions():
    assert FILES, f"no files in {BUILTIN_DIR}"


def test_loads_with_the_loader(path):
    from questionnaires.loader import load_definition_file

    assert load_definition_file(path) is not None


def test_key_and_review_type_match_the_file_name(path, definition):
    assert definition["review_type"] == path.stem
    assert definition["key"] == path.stem.replace("_", "-")


def test_each_review_type_appears_exactly_once():
    counts = Counter(_raw(p)["review_type"] for p in FILES)
    assert set(counts) == set(REVIEW_TYPES)
    assert all(count == 1 for count in counts.values()), counts


def test_identity_check(definition):
    assert definition["identity_check"] == REVIEW_TYPES[definition["review_type"]]


def test_header_comment_cites_the_standard(path):
    header = path.read_text(encoding="utf-8").split("\nkey:")[0]
    assert "T/SAC 002—2024" in header
    assert "E.1" in header and "E.3" in header
    assert re.search(r"E\.2\.\d|附录A", header)


def test_opens_with_a_flagged_identity_question_then_consent(definition):
    """E.1: confirm the client is the account holder, then consent to a short review (7.3.5)."""
    first, second = _answered(definition["questions"])[:2]
    assert first["id"] == "is_account_holder" and first["type"] == "yes_no"
    assert "{client_name}" in first["text"]["zh-CN"] and "{client_name}" in first["text"]["en"]
    no = next(option for option in first["options"] if option["value"] == "no")
    assert no["flag"]["severity"] == "high"
    assert second["type"] == "consent"
    assert "回访记录" in second["text"]["zh-CN"] and "review records" in second["text"]["en"]
    assert "{firm_name}" in definition["intro"]["zh-CN"] and "{firm_name}" in definition["intro"]["en"]


def test_non_holders_skip_the_rest(definition):
    """Every question after the identity question has a show_if, so a non-holder can submit."""
    for question in definition["questions"][1:]:
        assert question.get("show_if"), question["id"]


def test_closing_is_e3(definition):
    closing = definition["closing"]
    assert "感谢" in closing["zh-CN"] and "{service_phone}" in closing["zh-CN"]
    assert "Thank you" in closing["en"] and "{service_phone}" in closing["en"]


def test_ends_with_an_optional_suggestions_question(definition):
    """8.3.1 collects clients' suggestions."""
    last = definition["questions"][-1]
    assert (last["id"], last["type"], last["required"]) == ("suggestions", "text", False)


def test_covers_the_points_of_its_review_type(definition):
    ids = {q["id"] for q in definition["questions"]}
    missing = REQUIRED_QUESTIONS[definition["review_type"]] - ids
    assert not missing, f"missing questions: {sorted(missing)}"


def test_violation_questions_flag_an_answer_as_high(definition):
    checked = 0
    for question in definition["questions"]:
        if question["id"] in VIOLATION_QUESTION_IDS and question["type"] in CHOICE_TYPES:
            flags = _flags(question)
            assert flags, f"{question['id']}: no flagged option"
            assert all(flag["severity"] == "high" for flag in flags), question["id"]
            checked += 1
    assert checked >= 1  # at least the identity question


def test_every_yes_no_question_flags_an_answer_unless_neutral(definition):
    for question in definition["questions"]:
        if question["type"] == "yes_no" and question["id"] not in NEUTRAL_YES_NO_IDS:
            assert _flags(question), f"{question['id']}: no flagged option"


def test_knowledge_questions_flag_no_as_medium(definition):
    """Did not read / understand the disclosures, does not know risk levels or fees: medium."""
    for question in definition["questions"]:
        if question["type"] == "yes_no" and question["id"].startswith(("knows_", "read_")):
            flagged = {option["value"]: option["flag"]["severity"]
                       for option in question["options"] if "flag" in option}
            assert flagged == {"no": "medium"}, question["id"]


def test_satisfaction_questions(definition):
    """Five levels; only 不满意 and 非常不满意 are flagged, severity low."""
    for question in definition["questions"]:
        if question["id"].endswith("_satisfaction"):
            assert question["type"] == "single_choice"
            assert [option["value"] for option in question["options"]] == SATISFACTION_VALUES
            flagged = {option["value"]: option["flag"]["severity"]
                       for option in question["options"] if "flag" in option}
            assert flagged == {"dissatisfied": "low", "very_dissatisfied": "low"}


def test_flags_have_bilingual_labels(definition):
    for question in definition["questions"]:
        flags = _flags(question) + ([question["flag_at_or_below"]] if "flag_at_or_below" in question else [])
        for flag in flags:
            assert flag["severity"] in {"low", "medium", "high"}
            assert flag["label"]["zh-CN"].strip() and flag["label"]["en"].strip()


def test_bilingual_texts_list_zh_cn_first(definition):
    for text in _bilingual_texts(definition):
        assert list(text) == ["zh-CN", "en"], text
        assert all(isinstance(value, str) and value.strip() for value in text.values()), text


def test_placeholders_are_documented(path, definition):
    used = _placeholders(definition)
    assert used <= AUTO_PLACEHOLDERS | set(CONTEXT_PLACEHOLDERS), used
    assert used - AUTO_PLACEHOLDERS == _declared_context(path)


def test_rating_is_used_at_most_once():
    ratings = [q for p in FILES for q in _raw(p)["questions"] if q["type"] == "rating"]
    assert len(ratings) <= 1


def test_private_fund_has_no_leading_statements():
    """5.1.6 d: 回访过程不得出现诱导性陈述 — neutral questions that state no level or fact to agree with."""
    definition = _raw(BUILTIN_DIR / "private_fund.yaml")
    leading = ("对吗", "对吧", "是吧", "没错吧", "应该", "已经向您", "right?", "correct?")
    for question in definition["questions"]:
        if question["type"] in CHOICE_TYPES:
            assert question["text"]["zh-CN"].startswith("请问"), question["id"]
        for text in _bilingual_texts(question):
            for phrase in leading:
                assert phrase not in text["zh-CN"] and phrase not in text["en"], (question["id"], phrase)
    assert not {"client_risk_level", "product_risk"} & _placeholders(definition)
