"""The console's view of the audit log: auditors (and admins) only; who, what, when, from where."""
from __future__ import annotations

import pytest

from app.auth.models import Role

ALL = [Role.ADMIN, Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR, Role.AUDITOR]


@pytest.mark.parametrize("role, allowed", [(r, r in {Role.ADMIN, Role.AUDITOR}) for r in ALL])
def test_audit_log_roles(client, sign_in, chain, role, allowed):
    sign_in(role)
    assert client.get("/console/audit/").status_code == (200 if allowed else 403)


def test_anonymous_is_sent_to_sign_in(client, chain):
    assert client.get("/console/audit/").status_code == 302


def test_shows_who_what_when_and_where(client, sign_in, chain):
    sign_in(Role.AUDITOR)
    page = client.get("/console/audit/").get_data(as_text=True)
    assert "staff:user0" in page and "test.action" in page and "10.0.0.9" in page


@pytest.mark.parametrize("query, present, absent", [
    ("actor=staff:user1", "10.0.0.4", "10.0.0.3"),
    ("action=test.*", "10.0.0.1", "nothing-absent"),
    ("remote_addr=10.0.0.5", "10.0.0.5", "10.0.0.6"),
    ("object_id=2", "10.0.0.2", "10.0.0.8"),
])
def test_filters(client, sign_in, chain, query, present, absent):
    sign_in(Role.AUDITOR)
    page = client.get(f"/console/audit/?{query}").get_data(as_text=True)
    assert present in page and absent not in page


def test_reversed_range_is_422_with_a_clear_message(client, sign_in, chain):
    sign_in(Role.AUDITOR)
    response = client.get("/console/audit/?from=2026-05-02&to=2026-05-01")
    assert response.status_code == 422 and "swap the dates" in response.get_data(as_text=True)


def test_no_match_says_so(client, sign_in, chain):
    sign_in(Role.AUDITOR)
    assert "No audit entries match" in client.get("/console/audit/?actor=nobody").get_data(as_text=True)


def test_verify_from_the_console_reports_a_break(client, sign_in, chain, tamper):
    tamper("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
    sign_in(Role.AUDITOR)
    page = client.get("/console/audit/?verify=1").get_data(as_text=True)
    assert "chain-bad" in page and "entry 3" in page
