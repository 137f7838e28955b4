"""Generated review data with hand-computed expectations, shared by the stats, followup and audit tests."""
from __future__ import annotations

from datetime import datetime, timezone

from app.extensions import db
from app.reviews import service
from app.reviews.models import Invitation

V1 = """
key: stats-q
title: {zh-CN: 统计测试问卷, en: Stats test}
review_type: suitability
identity_check: none
questions:
  - id: own
    type: yes_no
    text: {zh-CN: 账户是您本人操作吗？, en: "Do you operate the account yourself?"}
    options:
      - {value: "yes", label: {zh-CN: 是, en: "Yes"}}
      - value: "no"
        label: {zh-CN: 否, en: "No"}
        flag: {severity: high, label: {zh-CN: 账户非本人操作, en: Not operated by the client}}
  - id: channels
    type: multiple_choice
    text: {zh-CN: 您通过哪些渠道了解产品？, en: "Where did you learn about the product?"}
    options:
      - {value: app, label: {zh-CN: 手机应用, en: Mobile app}}
      - {value: branch, label: {zh-CN: 营业部, en: Branch}}
      - {value: staff_call, label: {zh-CN: 工作人员电话, en: A call from staff}}
  - id: sat
    type: rating
    text: {zh-CN: 您对服务的满意程度, en: "How satisfied are you?"}
    scale: 5
    flag_at_or_below: {value: 2, severity: low, label: {zh-CN: 客户不满意, en: Client dissatisfied}}
  - id: years
    type: number
    text: {zh-CN: 投资年限, en: Years of investing}
    min: 0
    max: 80
  - id: comment
    type: text
    required: false
    text: {zh-CN: 意见与建议, en: Suggestions}
"""

# v2 drops "years", adds "risk_known" and rewords "own".
V2 = V1.replace("账户是您本人操作吗？", "请问账户是您本人操作吗？").replace("""  - id: years
    type: number
    text: {zh-CN: 投资年限, en: Years of investing}
    min: 0
    max: 80
""", """  - id: risk_known
    type: yes_no
    text: {zh-CN: 您是否了解产品风险？, en: "Do you know the product's risk?"}
    options:
      - {value: "yes", label: {zh-CN: 是, en: "Yes"}}
      - value: "no"
        label: {zh-CN: 否, en: "No"}
        flag: {severity: medium, label: {zh-CN: 不了解产品风险, en: Does not know the risk}}
""")

V1_ANSWERS = [
    {"own": "yes", "channels": ["app"], "sat": "5", "years": "10", "comment": "很好"},
    {"own": "yes", "channels": ["app", "branch"], "sat": "4", "years": "2"},
    {"own": "no", "channels": ["staff_call"], "sat": "2", "years": "6", "comment": "=cmd|' /C calc'!A0"},
    {"own": "yes", "channels": ["branch"], "sat": "4", "years": "0"},
]
V2_ANSWERS = [
    {"own": "yes", "channels": ["app"], "sat": "5", "risk_known": "yes"},
    {"own": "yes", "channels": ["app", "staff_call"], "sat": "3", "risk_known": "no", "comment": "希望简化流程"},
    {"own": "no", "channels": ["branch"], "sat": "1", "risk_known": "yes"},
]

# Hand-computed from the answers above (v1: 6 invitations, 4 answered, 1 opened, 1 never opened;
# v2: 4 invitations, 3 answered, 1 never opened).
EXPECTED = {
    "targeted": 10, "reached": 8, "completed": 7,
    "own": {"yes": 5, "no": 2}, "own_answered": 7,
    "channels": {"app": 4, "branch": 3, "staff_call": 2},
    "sat": {5: 2, 4: 2, 3: 1, 2: 1, 1: 1},
    "years": {"min": 0, "avg": 4.5, "max": 10}, "years_answered": 4,
    "risk_known": {"yes": 2, "no": 1}, "risk_known_answered": 3,
    # flags: own=no (2, high), sat<=2 (2, low), risk_known=no (1, medium)
    "exceptions": 5,
}


def publish_yaml(text: str):
    """Publish a definition given as text (the shared `publish` fixture treats text as a file name
    first, which fails with "File name too long" for long definitions)."""
    from app.definitions.service import publish_text

    version, _created = publish_text(text, "test")
    db.session.commit()
    return version


def build_population(make_client, publish, make_invitation, *, branch_v2="北京分公司", created_at=None):
    """Publish v1 and v2, invite 10 clients and answer 7; returns (v1, v2, invitations)."""
    v1 = publish_yaml(V1)
    v2 = publish_yaml(V2)
    invitations = []
    for i in range(6):
        client = make_client(branch="上海分公司", servicing_staff_code="S001")
        inv = make_invitation(client=client, version=v1, context={}, channel="sms" if i % 2 else "email")
        invitations.append(inv)
        if i < 4:
            service.submit_response(inv, V1_ANSWERS[i], "zh-CN")
        elif i == 4:
            service.mark_opened(inv)
    for i in range(4):
        client = make_client(branch=branch_v2, servicing_staff_code="S002")
        inv = make_invitation(client=client, version=v2, context={}, channel="app")
        invitations.append(inv)
        if i < 3:
            service.submit_response(inv, V2_ANSWERS[i], "en" if i == 1 else "zh-CN")
    if created_at is not None:
        for inv in invitations:
            db.session.get(Invitation, inv.id).created_at = created_at
    db.session.commit()
    return v1, v2, invitations


def at(year: int, month: int = 6, day: int = 15) -> datetime:
    """Noon UTC of a day (the middle of the local day in Shanghai too)."""
    return datetime(year, month, day, 4, 0, tzinfo=timezone.utc)
