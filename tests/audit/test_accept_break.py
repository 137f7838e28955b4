"""Accepting a break of the audit chain after investigating it: walks go past exactly that break."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.audit.service import BREAK_ACCEPTED, accept_break, entry_digest, walk_chain
from app.auth.models import Role
from app.extensions import db
from app.reviews.service import InvalidRequest
from tests.conftest import csrf_from


def rehash_entry_4() -> str:
    """SQL that changes entry 4 and gives it its own hash anew (the next entry's link still breaks)."""
    e = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq == 4)).one()
    forged = entry_digest(e.prev_hash, e.seq, e.occurred_at, "x", e.action, e.object_type, e.object_id,
                          e.details, e.remote_addr)
    return f"UPDATE audit_log SET actor = 'x', entry_hash = '{forged}' WHERE seq = 4"


# How an entry can be broken, and the seq the walk names.
BREAKS = {
    "content changed": ("UPDATE audit_log SET actor = 'staff:someone_else' WHERE seq = 4", 4),
    "rehashed": (rehash_entry_4, 5),
    "deleted": ("DELETE FROM audit_log WHERE seq = 7", 7),
    "cut from the end": ("DELETE FROM audit_log WHERE seq >= 9", 9),
}


def entries_count() -> int:
    """The audit entries there are."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


def break_with(tamper, kind: str):
    """Break the chain one way; returns the break the walk finds."""
    sql, _ = BREAKS[kind]
    tamper(sql() if callable(sql) else sql)
    return walk_chain().broken


def accept(found, incident: str = "INC-2026-031", note: str = "a DBA's repair script; the row was restored from the backup"):
    """Accept the break as found, as an auditor."""
    accept_break("staff:auditor", found.seq, found.fingerprint, incident, note)
    db.session.commit()


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_an_accepted_break_is_walked_past(app, chain, tamper, kind):
    found = break_with(tamper, kind)
    assert found is not None and found.seq == BREAKS[kind][1]
    accept(found)
    walk = walk_chain()
    assert walk.broken is None and walk.accepted == (found.seq,)


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_a_break_elsewhere_after_an_acceptance_is_found(app, chain, tamper, kind):
    accept(break_with(tamper, kind))
    tamper("UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 2")
    walk = walk_chain()
    assert walk.broken is not None and walk.broken.seq == 2


def test_a_further_change_to_the_accepted_entry_is_a_new_break(app, chain, tamper):
    accept(break_with(tamper, "content changed"))
    tamper("UPDATE audit_log SET actor = 'staff:a_third_one' WHERE seq = 4")
    walk = walk_chain()
    assert walk.broken is not None and walk.broken.seq == 4 and walk.accepted == ()


def test_an_entry_broken_twice_is_accepted_twice(app, chain, tamper):
    tamper("UPDATE audit_log SET prev_hash = 'x' WHERE seq = 5")
    first = walk_chain().broken
    assert first.reason == "previous hash does not match"
    accept(first)
    second = walk_chain().broken
    assert (second.seq, second.reason) == (5, "content does not match its hash")
    accept(second)
    assert walk_chain().broken is None


def test_entries_written_after_an_acceptance_keep_the_chain_whole(app, chain, tamper):
    from app.audit.service import record

    accept(break_with(tamper, "cut from the end"))
    record("staff:someone", "test.action", "thing", 11, {"n": 11})
    db.session.commit()
    walk = walk_chain()
    assert walk.broken is None and walk.checked == entries_count()


@pytest.mark.parametrize(("change", "field"), [
    ({"seq": 3}, "seq"),
    ({"fingerprint": "content:forged"}, "seq"),
    ({"incident": "  "}, "incident"),
    ({"incident": "x" * 101}, "incident"),
    ({"note": ""}, "note"),
])
def test_an_acceptance_that_does_not_fit_is_refused_and_writes_nothing(app, chain, tamper, change, field):
    found = break_with(tamper, "content changed")
    values = {"seq": found.seq, "fingerprint": found.fingerprint, "incident": "INC-1", "note": "looked at"} | change
    before = entries_count()
    with pytest.raises(InvalidRequest) as refused:
        accept_break("staff:auditor", **values)
    assert refused.value.field == field
    db.session.rollback()
    assert entries_count() == before


def test_an_intact_chain_has_nothing_to_accept(app, chain):
    with pytest.raises(InvalidRequest, match="not broken"):
        accept_break("staff:auditor", 4, "content:x", "INC-1", "looked at")


# --- flask audit verify / accept-break ---------------------------------------------------------------

def test_verify_prints_the_command_that_accepts_the_break(runner, chain, tamper):
    found = break_with(tamper, "deleted")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"flask audit accept-break 7 --fingerprint {found.fingerprint} --incident REF --note TEXT" in result.output


def test_flask_audit_accept_break_accepts_and_verify_says_so(runner, chain, tamper):
    found = break_with(tamper, "deleted")
    result = runner.invoke(args=["audit", "accept-break", "7", "--fingerprint", found.fingerprint,
                                 "--incident", "INC-7", "--note", "row deleted by a migration script"])
    assert result.exit_code == 0, result.output
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == BREAK_ACCEPTED)).one()
    assert (entry.actor, entry.details["incident"], entry.details["reason"]) == ("cli", "INC-7", "entry 7 is missing")
    assert "audit chain intact" in result.output  # walked again at once, for the status page
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "(past the accepted breaks at seq 7)" in verified.output


def test_flask_audit_accept_break_names_another_break_behind_the_accepted_one(runner, chain, tamper):
    found = break_with(tamper, "content changed")
    tamper("DELETE FROM audit_log WHERE seq = 8")
    result = runner.invoke(args=["audit", "accept-break", "4", "--fingerprint", found.fingerprint,
                                 "--incident", "INC-4", "--note", "n"])
    assert result.exit_code == 1 and "another break, at entry seq=8: entry 8 is missing" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == BREAK_ACCEPTED)) == 1


def test_flask_audit_accept_break_refuses_a_stale_fingerprint(runner, chain, tamper):
    break_with(tamper, "deleted")
    before = entries_count()
    result = runner.invoke(args=["audit", "accept-break", "7", "--fingerprint", "gap:stale",
                                 "--incident", "INC-7", "--note", "n"])
    assert result.exit_code == 1 and "not the one shown" in result.output
    db.session.rollback()
    assert entries_count() == before


# --- the console ----------------------------------------------------------------------------------

def test_an_auditor_accepts_a_break_on_the_audit_page(client, login, chain, tamper):
    tamper("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
    login(Role.AUDITOR)
    page = client.get("/console/audit/?verify=1").get_data(as_text=True)
    assert 'id="accept-break"' in page
    fingerprint = walk_chain().broken.fingerprint
    response = client.post("/console/audit/accept-break", data={
        "csrf_token": csrf_from(page), "seq": "3", "fingerprint": fingerprint, "incident": "INC-3",
        "note": "a DBA fixed a typo by hand"})
    assert response.status_code == 302 and "verify=1" in response.headers["Location"]
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "chain-ok" in after and 'id="chain-accepted"' in after and 'id="accept-break"' not in after


@pytest.mark.parametrize(("language", "reason"), [("en", "give the incident&#39;s reference (1 to 100 characters)"),
                                                  ("zh-CN", "请填写事件编号（1 至 100 个字符）")])
def test_the_audit_page_refuses_an_acceptance_without_an_incident(client, login, chain, tamper, language, reason):
    tamper("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
    login(Role.AUDITOR)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    page = client.get("/console/audit/?verify=1").get_data(as_text=True)
    before = entries_count()
    response = client.post("/console/audit/accept-break", data={
        "csrf_token": csrf_from(page), "seq": "3", "fingerprint": walk_chain().broken.fingerprint,
        "incident": "", "note": "kept"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert reason in html and ">kept</textarea>" in html
    assert entries_count() == before


@pytest.mark.parametrize("role", [Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR])
def test_only_auditors_and_admins_accept_breaks(client, login, chain, tamper, role):
    tamper("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
    login(role)
    page = client.get("/console/").get_data(as_text=True)
    response = client.post("/console/audit/accept-break", data={
        "csrf_token": csrf_from(page), "seq": "3", "fingerprint": walk_chain().broken.fingerprint,
        "incident": "INC-3", "note": "n"})
    assert response.status_code == 403


# --- what else reads the chain ------------------------------------------------------------------------

def test_the_status_stops_calling_for_an_accepted_break_and_lists_it(app, client, login, chain, tamper, runner):
    from app.status.service import system_status

    found = break_with(tamper, "content changed")
    runner.invoke(args=["audit", "verify"])
    assert [p.code for p in system_status().problems][0] == "audit_chain_broken"
    runner.invoke(args=["audit", "accept-break", "4", "--fingerprint", found.fingerprint, "--incident", "INC-9",
                        "--note", "restored by hand from the paper register"])
    assert "audit_chain_broken" not in [p.code for p in system_status().problems]
    login(Role.AUDITOR)
    html = client.get("/console/status").get_data(as_text=True)
    assert "entry 4 (content does not match its hash), accepted" in html and "incident INC-9" in html


def test_a_backup_after_an_acceptance_is_whole_and_its_check_passes(app, chain, tamper):
    from app.backup.service import check_backup, create_backup

    accept(break_with(tamper, "content changed"))
    backup = create_backup("test")
    db.session.commit()
    assert backup.manifest["contents"]["audit_break"] is None
    check_backup(backup.path, "test")  # raises when the restored copy's walk differs
