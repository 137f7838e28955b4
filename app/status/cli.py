"""`flask status`: the status page's checks for monitoring; exit code 1 when something needs doing."""
from __future__ import annotations

import json

import click
from flask import Flask

from app.console.forms import firm_time
from app.i18n import UI_LOCALES
from app.status.messages import problem_messages


def _facts(status) -> list[str]:
    backup, worker = status.backup, status.worker
    newest = f"{backup.newest.name} taken {firm_time(backup.newest.at)}" if backup.newest else "none"
    verified = (f"{backup.verified.name} taken {firm_time(backup.verified.at)}, checked "
                f"{firm_time(backup.verified_checked_at)}") if backup.verified else "none"
    chain = status.chain
    walk = (f"recomputed {firm_time(chain.at)}, " + (f"broken at {chain.broken}" if chain.broken else
                                                     f"{chain.entries} entries, intact")) if chain.at else "never recomputed"
    return [f"backup: newest {newest}; newest proved by a check: {verified}",
            f"audit chain: {walk}",
            f"worker: last job finished {firm_time(worker.last_finished_at) or 'never'}; "
            f"{worker.waiting} due and waiting; {worker.dead} given up in the last {worker.dead_days} days",
            _alerts_fact()]


def _alerts_fact() -> str:
    from app.status.alerts import alert_setting

    setting = alert_setting()
    if setting.error:
        return f"alerts: off, {setting.error}"
    to = f"to {setting.recipients} addresses" if setting.recipients else "off (STATUS_ALERT_EMAILS is not set)"
    last, failure = setting.history.last_attempt, setting.history.last_failure
    sent = f"last {last.details.get('kind')} {firm_time(last.at)}" if last else "none sent"
    missed = f", reached {failure.details.get('accepted')} of {last.details.get('recipients')}" if failure else ""
    return f"alerts: {to}; {sent}{missed}"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for monitoring).")
@click.option("--lang", type=click.Choice(list(UI_LOCALES)), default="en", show_default=True,
              help="The language of the problems' sentences.")
@click.option("--alert", is_flag=True,
              help="Also e-mail STATUS_ALERT_EMAILS if an alert is due (for cron: it runs when the worker does not).")
def status_command(as_json: bool, lang: str, alert: bool) -> None:
    """The audit chain, backups proved by a check and the background worker; exit 1 when something needs doing."""
    from app.status.service import system_status

    result = _send_alert() if alert else None
    status = system_status()
    messages = problem_messages(status.problems, lang)
    if as_json:
        click.echo(json.dumps({"ok": status.ok, "problems": [
            {"code": problem.code, "message": message} for problem, message in zip(status.problems, messages)]},
            ensure_ascii=False))
    else:
        for line in _facts(status):
            click.echo(line)
        for message in messages:
            click.echo(f"needs doing: {message}")
        if status.ok:
            click.echo("nothing needs doing")
    if result is not None:
        click.echo(_alert_line(result), err=as_json)
    if not status.ok or (result is not None and result.failures):
        raise SystemExit(1)


def _send_alert():
    from app.status.alerts import AlertConfigError, alert_recipients, send_status_alert

    try:
        if not alert_recipients():
            raise click.UsageError("--alert: STATUS_ALERT_EMAILS is not set (README, configuration)")
        return send_status_alert("cli")
    except AlertConfigError as exc:
        raise click.UsageError(f"--alert: {exc}") from None


def _alert_line(result) -> str:
    if result.kind is None:
        return "alert: none due"
    line = f"alert: {result.kind} e-mailed to {result.accepted} of {result.accepted + len(result.failures)} addresses"
    return "; ".join([line, *result.failures])


def register(app: Flask) -> None:
    """Attach this area's command to the app."""
    app.cli.add_command(status_command)
