"""System status (7.5.2): backups proved by a check, the background worker, /healthz, `flask status`."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import refresh

from app.auth.models import Role
from app.backup.service import check_backup
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import JobStatus
from app.status.service import system_status


def codes(status) -> list[str]:
    """The problems' codes, in order."""
    return [problem.code for problem in status.problems]


# --- the checks -----------------------------------------------------------------------------------

def test_a_new_installation_is_told_to_make_backups_and_start_the_worker(app):
    status = system_status()
    assert codes(status) == ["backup_never_checked", "worker_never_ran"]
    assert status.problems[0].values == {"made": False}
    assert not status.ok


def test_a_backup_never_checked_is_not_yet_a_backup(backed_up, worker_ran):
    backed_up(check=False)
    worker_ran()
    status = system_status()
    assert codes(status) == ["backup_never_checked"]
    assert status.problems[0].values == {"made": True}
    assert status.backup.newest is not None and status.backup.verified is None


def test_a_checked_backup_and_a_running_worker_need_nothing(healthy):
    status = system_status()
    assert status.ok, status.problems
    assert status.backup.verified.name == status.backup.newest.name


def test_the_newest_proved_backup_ages_past_the_limit(app, healthy):
    status = system_status(now=utcnow() + timedelta(hours=app.config["BACKUP_MAX_AGE_HOURS"], minutes=1))
    assert "backup_too_old" in codes(status)
    assert "backup_too_old" not in codes(system_status(
        now=utcnow() + timedelta(hours=app.config["BACKUP_MAX_AGE_HOURS"] - 1)))


def test_checking_an_older_backup_later_keeps_the_newest_as_the_proved_one(backed_up, worker_ran):
    older = backed_up(check=False)
    newer = backed_up()
    check_backup(older.path, "test")  # a restore drill on last week's copy
    db.session.commit()
    assert system_status().backup.verified.name == newer.name


def test_a_check_of_a_copy_made_elsewhere_proves_nothing_here(backed_up, worker_ran):
    from app.audit.service import record

    backed_up(check=False)
    record("cli", "backup.checked", "backup", "huifang-20261101-020000Z-0a0b0c", {})  # another server's copy
    db.session.commit()
    worker_ran()
    assert codes(system_status()) == ["backup_never_checked"]


def test_a_failed_check_is_called_for_until_a_check_succeeds(healthy, backed_up):
    damaged = backed_up(check=False)
    damaged.path.write_bytes(b"not a database")
    with pytest.raises(Exception, match="SHA-256|sha256|size"):
        check_backup(damaged.path, "test")
    db.session.commit()
    status = system_status()
    assert codes(status) == ["backup_check_failed"]
    assert status.problems[0].values["name"] == damaged.name
    assert status.problems[0].values["reason"]
    backed_up()
    assert system_status().ok


def test_a_worker_silent_past_the_limit_is_called_for(app, healthy):
    later = utcnow() + timedelta(minutes=app.config["WORKER_MAX_SILENCE_MINUTES"], seconds=1)
    assert codes(system_status(now=later)) == ["worker_silent"]


def test_jobs_due_and_waiting_past_the_limit_are_called_for(app, healthy):
    jobs.enqueue("jobs.purge", {}, run_at=utcnow() - timedelta(minutes=app.config["WORKER_MAX_SILENCE_MINUTES"] + 1))
    db.session.commit()
    status = system_status()
    assert codes(status) == ["jobs_waiting"]
    assert status.problems[0].values["count"] == 1


def test_a_job_just_due_is_not_yet_late(healthy):
    jobs.enqueue("jobs.purge", {})
    db.session.commit()
    assert system_status().ok


@pytest.fixture
def gave_up(app):
    """A job that gave up at the given time."""

    def make(at):
        job = jobs.enqueue("jobs.purge", {})
        db.session.flush()
        job.status, job.finished_at = JobStatus.DEAD, at
        db.session.commit()

    return make


def test_jobs_given_up_this_week_are_called_for(healthy, gave_up):
    gave_up(utcnow() - timedelta(days=6))
    status = system_status()
    assert codes(status) == ["jobs_dead"]
    assert status.problems[0].values == {"count": 1, "days": 7}


def test_a_job_that_gave_up_long_ago_is_no_longer_called_for(healthy, gave_up):
    gave_up(utcnow() - timedelta(days=8))  # nobody can retry a letter batch deleted since
    status = system_status()
    assert status.ok and status.worker.dead == 0


def test_each_backup_tells_the_chain_is_whole(backed_up, worker_ran, chain):
    backed_up()
    state = system_status().chain
    assert state.broken is None and state.entries == len(chain) and state.at is not None


def test_a_break_the_backup_walked_into_is_called_for(backed_up, worker_ran, chain, tamper):
    tamper("UPDATE audit_log SET actor = 'staff:someone_else' WHERE seq = 4")
    backed_up(check=False)
    worker_ran()
    status = system_status()
    assert codes(status) == ["audit_chain_broken", "backup_never_checked"]
    assert status.problems[0].values["where"] == "entry seq=4: content does not match its hash"


def test_flask_audit_verify_is_audited_and_its_finding_called_for(app, backed_up, worker_ran, chain, tamper):
    backed_up()
    worker_ran()
    tamper("DELETE FROM audit_log WHERE seq = 7")
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    status = system_status()
    assert codes(status) == ["audit_chain_broken"]
    assert status.problems[0].values["where"] == "entry seq=7: entry 7 is missing"


def test_a_walk_that_finds_the_chain_whole_again_ends_the_call(app, healthy, chain, tamper):
    verify = app.test_cli_runner().invoke
    actor = db.session.scalar(sa.text("SELECT actor FROM audit_log WHERE seq = 4"))
    tamper("UPDATE audit_log SET actor = 'staff:someone_else' WHERE seq = 4")
    assert verify(args=["audit", "verify"]).exit_code == 1
    assert codes(system_status()) == ["audit_chain_broken"]
    tamper("UPDATE audit_log SET actor = :a WHERE seq = 4", a=actor)  # as after a restore from before the break
    assert verify(args=["audit", "verify"]).exit_code == 0
    assert system_status().ok


# --- the console page -----------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.ADMIN, Role.AUDITOR])
def test_admins_and_auditors_see_the_status_page(client, login, role):
    login(role)
    page = client.get("/console/status")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-problem="backup_never_checked"' in html
    assert "No backup has been made" in html


@pytest.mark.parametrize("role", [Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR])
def test_other_roles_may_not_see_the_status_page(client, login, role):
    login(role)
    assert client.get("/console/status").status_code == 403


def test_the_status_page_needs_a_sign_in(client):
    response = client.get("/console/status")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_status_page_lists_the_backup_folder_and_a_missing_data_file(client, login, backed_up, worker_ran):
    login(Role.AUDITOR)
    kept, lost = backed_up(), backed_up(check=False)
    lost.path.unlink()
    worker_ran()
    html = client.get("/console/status").get_data(as_text=True)
    rows = {row.split("</td>", 1)[0]: row for row in html.split("<tr><td>")[1:]}
    assert "not checked" not in rows[kept.name]
    assert "not checked" in rows[f'{lost.name} <span class="error">(data file missing)</span>']
    assert "Nothing needs doing." in html


def test_the_status_page_says_when_this_server_has_no_backup_folder(client, login):
    login(Role.ADMIN)
    html = client.get("/console/status").get_data(as_text=True)
    assert 'id="backup-folder-absent"' in html


def test_the_status_page_speaks_chinese(client, login):
    login(Role.ADMIN)
    refresh()  # Flask-Babel kept the sign-in's locale on the app context the test holds open
    html = client.get("/console/status?lang=zh-CN").get_data(as_text=True)
    assert "尚未制作任何备份" in html and "2 项需要处理" in html


def test_the_console_home_shows_what_needs_doing_to_admins(client, login):
    login(Role.ADMIN)
    html = client.get("/console/").get_data(as_text=True)
    assert 'id="system-problems"' in html and 'data-problem="worker_never_ran"' in html


def test_the_console_home_keeps_the_status_from_other_roles(client, login):
    login(Role.REVIEW_EXECUTOR)
    assert 'id="system-problems"' not in client.get("/console/").get_data(as_text=True)


def test_the_console_home_is_quiet_when_nothing_needs_doing(client, login, healthy):
    login(Role.ADMIN)
    assert 'id="system-problems"' not in client.get("/console/").get_data(as_text=True)


# --- /healthz -------------------------------------------------------------------------------------

def test_healthz_answers_without_a_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(app_with, tmp_path):
    broken = app_with(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/no/such/folder/x.db")
    with broken.app_context():
        response = broken.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "unavailable"}


def test_healthz_says_nothing_of_backups_or_jobs(client):
    # Load balancers take a server out of service on a non-200: a stale backup must not do that.
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert not system_status().ok


# --- flask status ---------------------------------------------------------------------------------

def test_flask_status_exits_1_and_says_what_needs_doing(app):
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 1
    assert "needs doing: No backup has been made" in result.output
    assert "needs doing: The background worker has not finished a single job" in result.output


def test_flask_status_exits_0_when_nothing_needs_doing(app, healthy):
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 0, result.output
    assert "nothing needs doing" in result.output
    assert "newest proved by a check: huifang-" in result.output


def test_flask_status_json_for_monitoring_in_chinese(app):
    result = app.test_cli_runner().invoke(args=["status", "--json", "--lang", "zh-CN"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert [p["code"] for p in report["problems"]] == ["backup_never_checked", "worker_never_ran"]
    assert report["problems"][0]["message"].startswith("尚未制作任何备份")
