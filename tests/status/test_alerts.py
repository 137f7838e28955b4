"""Status alerts: the problems e-mailed over real SMTP (aiosmtpd), once, with reminders and an all clear."""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from html import unescape as html_unescape

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.audit.service import verify_chain
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job, JobStatus
from app.status import alerts
from app.status.alerts import send_status_alert
from app.status.messages import problem_messages
from app.status.service import system_status
from tests.campaigns.conftest import free_port

OPS = ["ops@example.com", "duty@example.com"]


def entries(action: str) -> list[dict]:
    """The details of every audit entry of one action, oldest first."""
    return list(db.session.scalars(sa.select(AuditEntry.details).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.seq)))


def text_of(message) -> str:
    """The plain-text part of a received message."""
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def alerting(app, smtp_server):
    """Alerts on, in English, to OPS over the test's SMTP server, no quiet period; yields the mailbox."""
    mailbox, port = smtp_server
    app.config.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, EMAIL_SENDER="huifang@example.com",
                      STATUS_ALERT_EMAILS=", ".join(OPS), STATUS_ALERT_LANG="en", STATUS_ALERT_QUIET_MINUTES=0,
                      CONSOLE_BASE_URL="https://console.firm.example")
    return mailbox


def later(**delta):
    """A moment after now."""
    return utcnow() + timedelta(**delta)


def test_without_addresses_nothing_is_sent_or_recorded(app, smtp_server):
    assert send_status_alert("test").kind is None
    assert smtp_server[0].messages == [] and entries(alerts.ALERTED) == []


def test_the_problems_are_e_mailed_to_every_address_with_the_page_sentences(app, alerting):
    result = send_status_alert("test")
    assert (result.kind, result.accepted, result.failures) == ("problems", 2, [])
    assert sorted(message["To"] for message in alerting.messages) == sorted(OPS)
    message = alerting.messages[0]
    assert message["Subject"] == "[Huifang Securities] Huifang system status: 2 problems need doing"
    body = text_of(message)
    for sentence in problem_messages(system_status().problems, "en"):
        assert f"- {sentence}" in body
    assert "https://console.firm.example/console/status" in body
    assert "https://console.firm.example/console/status" in message.get_body(preferencelist=("html",)).get_content()
    assert entries(alerts.ALERTED) == [{"kind": "problems", "codes": ["backup_never_checked", "worker_never_ran"],
                                        "recipients": 2}]


def test_the_same_problems_are_not_sent_again_before_the_reminder_is_due(app, alerting):
    send_status_alert("test")
    assert send_status_alert("test", later(hours=23)).kind is None
    assert len(alerting.messages) == 2


def test_problems_still_there_after_the_repeat_hours_are_sent_as_a_reminder(app, alerting):
    send_status_alert("test")
    result = send_status_alert("test", later(hours=app.config["STATUS_ALERT_REPEAT_HOURS"], minutes=1))
    assert result.kind == "reminder"
    assert alerting.messages[-1]["Subject"].endswith("reminder: 2 problems still need doing")
    assert "Still needs doing (a reminder):" in text_of(alerting.messages[-1])


def test_a_healthy_system_that_was_never_alerted_sends_nothing(app, alerting, healthy):
    assert send_status_alert("test").kind is None
    assert alerting.messages == []


def test_an_all_clear_is_sent_once_when_the_problems_are_gone(app, alerting, healthy_later):
    send_status_alert("test")
    at = healthy_later()
    result = send_status_alert("test", at)
    assert (result.kind, result.codes) == ("clear", [])
    assert alerting.messages[-1]["Subject"] == "[Huifang Securities] Huifang system status: nothing needs doing any more"
    assert "Nothing needs doing any more: the problems of the alert of" in text_of(alerting.messages[-1])
    assert send_status_alert("test", at + timedelta(minutes=1)).kind is None
    assert len(alerting.messages) == 4


def test_a_changed_set_of_problems_is_sent_at_once(app, alerting, backed_up):
    send_status_alert("test")
    backed_up()  # the backup is fixed; the worker still never ran
    result = send_status_alert("test")
    assert (result.kind, result.codes) == ("problems", ["worker_never_ran"])
    assert alerting.messages[-1]["Subject"].endswith("1 problem needs doing")


def test_no_two_alerts_go_out_within_the_quiet_period(app, alerting, healthy_later):
    app.config["STATUS_ALERT_QUIET_MINUTES"] = 15
    send_status_alert("test")
    assert send_status_alert("test", healthy_later(minutes=1)).kind is None  # all clear a minute later: quiet
    assert send_status_alert("test", healthy_later(minutes=16)).kind == "clear"


def test_an_alert_no_address_took_is_recorded_and_sent_again_after_the_quiet_period(app, alerting):
    app.config["STATUS_ALERT_QUIET_MINUTES"] = 15
    for address in OPS:
        alerting.refuse[address] = "550 5.1.1 mailbox unknown"
    result = send_status_alert("test")
    assert (result.kind, result.accepted, len(result.failures)) == ("problems", 0, 2)
    assert "550" in result.failures[0]
    failed = entries(alerts.ALERT_FAILED)
    assert len(failed) == 1 and failed[0]["accepted"] == 0 and len(failed[0]["failures"]) == 2
    alerting.refuse.clear()
    assert send_status_alert("test", later(minutes=10)).kind is None  # quiet: tried ten minutes ago
    again = send_status_alert("test", later(minutes=16))
    assert (again.kind, again.accepted) == ("problems", 2)  # not a reminder: nobody was told


def test_an_alert_one_address_took_counts_as_told(app, alerting):
    alerting.refuse[OPS[1]] = "550 5.1.1 mailbox unknown"
    result = send_status_alert("test")
    assert (result.accepted, len(result.failures)) == (1, 1)
    assert entries(alerts.ALERT_FAILED)[0]["accepted"] == 1
    assert send_status_alert("test", later(minutes=30)).kind is None


def test_an_unreachable_mail_server_is_a_recorded_failure_not_a_crash(app, alerting):
    app.config["EMAIL_PORT"] = free_port()  # nothing listens there
    result = send_status_alert("test")
    assert result.accepted == 0 and "failed" in result.failures[0]
    assert entries(alerts.ALERT_FAILED)[0]["alert_seq"] == db.session.scalar(
        sa.select(AuditEntry.seq).where(AuditEntry.action == alerts.ALERTED))


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("STATUS_ALERT_EMAILS", "ops@example.com, duty desk", "'duty desk' is not an e-mail address"),
    ("STATUS_ALERT_LANG", "fr", "STATUS_ALERT_LANG: 'fr' is not one of zh-CN, en"),
    ("EMAIL_SECURITY", "tls", "EMAIL_SECURITY: 'tls' is not one of none, starttls, ssl"),
])
def test_a_setting_that_cannot_be_used_records_and_sends_nothing(app, alerting, setting, value, message):
    app.config[setting] = value
    with pytest.raises(alerts.AlertConfigError, match=message):
        send_status_alert("test")
    assert alerting.messages == [] and entries(alerts.ALERTED) == []


def test_an_address_smtp_cannot_carry_fails_alone(app, alerting):
    app.config["STATUS_ALERT_EMAILS"] = "<ops@example.com>, duty@example.com"
    result = send_status_alert("test")
    assert result.accepted == 1 and "not a single email address" in result.failures[0]
    assert [message["To"] for message in alerting.messages] == ["duty@example.com"]


def test_two_checkers_at_the_same_moment_send_one_alert(app, alerting, monkeypatch):
    app.config["STATUS_ALERT_QUIET_MINUTES"] = 15
    barrier = threading.Barrier(2)
    read_history = alerts.alert_history
    first_read = threading.local()

    def history_then_wait():
        history = read_history()
        if not getattr(first_read, "done", False):  # both have decided an alert is due before either records it
            first_read.done = True
            barrier.wait(timeout=10)
        return history

    monkeypatch.setattr(alerts, "alert_history", history_then_wait)
    kinds = []

    def check(actor: str) -> None:
        with app.app_context():
            try:
                kinds.append(send_status_alert(actor).kind)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=check, args=(actor,)) for actor in ("system", "cli")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kinds, key=str) == [None, "problems"]
    assert len(alerting.messages) == len(OPS) and len(entries(alerts.ALERTED)) == 1


def test_alerts_keep_the_audit_chain_whole(app, alerting, healthy_later):
    send_status_alert("test")
    assert send_status_alert("test", healthy_later()).kind == "clear"
    checked, broken = verify_chain()
    assert broken is None
    assert checked == db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) >= 4


def test_the_worker_checks_once_a_minute_and_sends(app, alerting, worker_ran):
    worker_ran()
    jobs.schedule_periodic()
    jobs.run_due_jobs()
    job = db.session.scalar(sa.select(Job).where(Job.kind == alerts.ALERT_KIND))
    assert job.status is JobStatus.DONE and job.dedupe_key.startswith(f"periodic:{alerts.ALERT_KIND}:")
    assert len(alerting.messages) == 2
    assert entries(alerts.ALERTED) == [{"kind": "problems", "codes": ["backup_never_checked"], "recipients": 2}]


def test_a_bad_address_in_the_setting_stops_no_worker(app, alerting, caplog):
    app.config["STATUS_ALERT_EMAILS"] = "ops@example.com, duty desk"
    jobs.schedule_periodic()
    jobs.run_due_jobs()
    job = db.session.scalar(sa.select(Job).where(Job.kind == alerts.ALERT_KIND))
    assert job.status is JobStatus.DONE
    assert "'duty desk' is not an e-mail address" in caplog.text
    assert alerting.messages == [] and entries(alerts.ALERTED) == []


def test_alerts_are_in_chinese_by_default(app, alerting):
    del app.config["STATUS_ALERT_LANG"]
    send_status_alert("test")
    message = alerting.messages[0]
    assert message["Subject"].startswith(f"[{app.config['FIRM_NAME']}] ")
    assert "2 项" in message["Subject"]
    body = text_of(message)
    assert "需要处理" in body and "Needs doing" not in body
    assert problem_messages(system_status().problems, "zh-CN")[0] in body


def test_the_language_of_one_text_does_not_stick_to_the_next(app, alerting):
    assert problem_messages(system_status().problems, "en")[0].startswith("No backup has been made")
    del app.config["STATUS_ALERT_LANG"]
    send_status_alert("test")
    assert text_of(alerting.messages[0]).splitlines()[2] == "需要处理："
    assert problem_messages(system_status().problems, "en")[0].startswith("No backup has been made")


# --- flask status --alert ---------------------------------------------------------------------------

def test_flask_status_alert_sends_and_says_so(app, alerting):
    result = app.test_cli_runner().invoke(args=["status", "--alert"])
    assert result.exit_code == 1  # the problems, as without --alert
    assert "alert: problems e-mailed to 2 of 2 addresses" in result.output
    assert len(alerting.messages) == 2
    again = app.test_cli_runner().invoke(args=["status", "--alert"])
    assert "alert: none due" in again.output and len(alerting.messages) == 2


def test_flask_status_says_whether_alerts_go_out_and_the_last_one(app, alerting):
    app.config["STATUS_ALERT_EMAILS"] = ""
    assert "alerts: off (STATUS_ALERT_EMAILS is not set); none sent" in app.test_cli_runner().invoke(args=["status"]).output
    app.config["STATUS_ALERT_EMAILS"] = ", ".join(OPS)
    alerting.refuse[OPS[1]] = "550 5.1.1 mailbox unknown"
    send_status_alert("test")
    line = next(line for line in app.test_cli_runner().invoke(args=["status"]).output.splitlines()
                if line.startswith("alerts:"))
    assert line.startswith("alerts: to 2 addresses; last problems ") and line.endswith(", reached 1 of 2")


def test_flask_status_json_stays_one_json_object_with_alert(app, alerting):
    result = app.test_cli_runner().invoke(args=["status", "--json", "--alert"])
    assert json.loads(result.stdout)["ok"] is False
    assert "alert: problems e-mailed to 2 of 2 addresses" in result.stderr


@pytest.mark.parametrize(("setting", "message"), [
    ("", "STATUS_ALERT_EMAILS is not set"),
    ("ops@example.com;nobody", "'nobody' is not an e-mail address"),
])
def test_flask_status_alert_refuses_a_setting_it_cannot_use(app, alerting, setting, message):
    app.config["STATUS_ALERT_EMAILS"] = setting
    result = app.test_cli_runner().invoke(args=["status", "--alert"])
    assert result.exit_code == 2 and message in result.output
    assert alerting.messages == [] and entries(alerts.ALERTED) == []


def test_flask_status_alert_exits_1_when_the_alert_failed_though_nothing_else_is_wrong(app, alerting, healthy_later):
    send_status_alert("test")
    healthy_later()
    app.config["EMAIL_PORT"] = free_port()
    result = app.test_cli_runner().invoke(args=["status", "--alert"])
    assert "alert: clear e-mailed to 0 of 2 addresses" in result.output
    assert result.exit_code == 1


# --- the status page's card -------------------------------------------------------------------------

def fact(html: str, dd_id: str) -> str:
    """The text of one <dd id=…> of the page, tags removed, spaces folded."""
    inner = re.search(rf'<dd id="{dd_id}">(.*?)</dd>', html, re.S).group(1)
    return " ".join(html_unescape(re.sub(r"<[^>]+>", "", inner)).split())


def test_the_status_page_says_alerts_are_off_without_addresses(client, login):
    login(Role.AUDITOR)
    html = client.get("/console/status").get_data(as_text=True)
    assert fact(html, "alerts-to") == "nobody: alerts are off until STATUS_ALERT_EMAILS is set"
    assert fact(html, "alerts-last") == "never"


def test_the_status_page_shows_the_last_alert_and_the_addresses_it_missed(app, client, login, alerting):
    alerting.refuse[OPS[0]] = "550 5.1.1 mailbox unknown"
    send_status_alert("test")
    login(Role.ADMIN)
    html = client.get("/console/status").get_data(as_text=True)
    assert fact(html, "alerts-to") == "2 addresses (STATUS_ALERT_EMAILS)"
    assert fact(html, "alerts-last").endswith("· problems · reached 1 of 2 addresses")


def test_the_status_page_names_a_setting_that_stops_the_alerts(app, client, login, alerting):
    app.config["STATUS_ALERT_EMAILS"] = "ops@example.com, duty desk"
    login(Role.ADMIN)
    html = client.get("/console/status").get_data(as_text=True)
    assert fact(html, "alerts-to") == "STATUS_ALERT_EMAILS: 'duty desk' is not an e-mail address"
