"""`flask campaigns …`: create, target, sample, run (with a progress bar), pause, resume, holidays."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from app.cli_params import DAY, ROW_ID, TEXT_FILE, YEAR, fail, finite
from app.extensions import db

campaigns_cli = AppGroup("campaigns", help="Review campaigns: create, add targets, sample, run, pause, resume.")
holidays_cli = AppGroup("holidays", help="Exchange holidays (trading-day deadlines).")
campaigns_cli.add_command(holidays_cli)


def _campaign(campaign_id: int):
    from app.campaigns.service import get_campaign

    campaign = get_campaign(campaign_id)
    if campaign is None:
        fail(f"no campaign {campaign_id}")
    return campaign


def _when(value):
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-12-31T23:59:00+08:00")
    return parsed


@campaigns_cli.command("create")
@click.argument("name")
@click.option("--questionnaire", required=True, help="Questionnaire key.")
@click.option("--version", "version_number", type=ROW_ID, default=None)
@click.option("--type", "review_type", default=None, help="Review type (default: the questionnaire's).")
@click.option("--plan", default="sms,email", show_default=True, help="Channels in fallback order.")
@click.option("--attempts", default="", help="Attempts per channel, e.g. sms=2,email=1.")
@click.option("--rate", default="", help="Sends per minute per channel, e.g. sms=600.")
@click.option("--reminders", default="3,7", show_default=True, help="Reminder days without an answer.")
@click.option("--quiet", default="21:00-08:00", show_default=True, help="Quiet hours for SMS and app push.")
@click.option("--timezone", "tz", default="Asia/Shanghai", show_default=True)
@click.option("--window-start", default=None)
@click.option("--window-end", default=None)
@click.option("--deadline", default=None)
@click.option("--context", "context_json", default="{}", help="Placeholder values as JSON.")
def create_command(name, questionnaire, version_number, review_type, plan, attempts, rate, reminders, quiet, tz,
                   window_start, window_end, deadline, context_json):
    """Create a draft campaign NAME and print its id."""
    from app.campaigns.service import CampaignSpec, create_campaign
    from app.reviews.service import InvalidRequest

    def pairs(text):
        out = {}
        for item in filter(None, text.split(",")):
            key, _, value = item.partition("=")
            out[key.strip()] = int(value)
        return out

    start, _, end = quiet.partition("-")
    try:
        spec = CampaignSpec(
            name=name, questionnaire_key=questionnaire, version_number=version_number, review_type=review_type,
            channel_plan=[c.strip() for c in plan.split(",") if c.strip()], attempts_per_channel=pairs(attempts),
            rate_limits=pairs(rate), reminder_days=[int(d) for d in reminders.split(",") if d.strip()],
            quiet_start=start, quiet_end=end, default_timezone=tz, window_starts_at=_when(window_start),
            window_ends_at=_when(window_end), deadline=_when(deadline), context=json.loads(context_json))
        campaign = create_campaign(spec, "cli")
    except (InvalidRequest, ValueError) as exc:
        fail(f"not created: {exc}")
    db.session.commit()
    click.echo(f"created campaign {campaign.id}: {campaign.name}")


@campaigns_cli.command("add-targets")
@click.argument("campaign_id", type=ROW_ID)
@click.option("--csv", "csv_file", type=TEXT_FILE)
@click.option("--branch", default=None)
@click.option("--risk-level", "risk_levels", multiple=True)
@click.option("--staff-code", default=None)
def add_targets_command(campaign_id, csv_file, branch, risk_levels, staff_code):
    """Add targets from a CSV file (any bad row: none added) or from the client table by filter."""
    from app.campaigns import service
    from app.reviews.service import InvalidRequest

    campaign = _campaign(campaign_id)
    try:
        if csv_file:
            added = service.import_targets_csv(campaign, csv_file.text, "cli")
        else:
            filters = {k: v for k, v in (("branch", branch), ("risk_levels", list(risk_levels)),
                                         ("servicing_staff_code", staff_code)) if v}
            added = service.add_targets_by_filter(campaign, filters, "cli")
    except service.TargetImportError as exc:
        fail("nothing added:\n" + "\n".join(f"  line {e.row}: {e.field}: {e.message}" for e in exc.errors))
    except InvalidRequest as exc:
        fail(f"nothing added: {exc}")
    db.session.commit()
    click.echo(f"added {added} targets")


@campaigns_cli.command("sample")
@click.argument("campaign_id", type=ROW_ID)
@click.option("--as-of", type=DAY, required=True, help="The year-end date of the client figures (YYYY-MM-DD).")
@click.option("--seed", type=int, required=True)
@click.option("--ratio", type=float, default=0.10, show_default=True, callback=finite)
@click.option("--r5-ratio", type=float, default=0.30, show_default=True, callback=finite)
@click.option("--by", "stratify_by", type=click.Choice(["branch", "risk_level"]), default="branch")
def sample_command(campaign_id, as_of, seed, ratio, r5_ratio, stratify_by):
    """Draw a seeded stratified sample (5.1.4, 5.1.5) into the campaign and print the ratios."""
    from app.campaigns.service import SampleSpec, draw_sample
    from app.reviews.service import InvalidRequest

    campaign = _campaign(campaign_id)
    try:
        summary = draw_sample(campaign, SampleSpec(as_of.date(), seed, ratio, r5_ratio, stratify_by), "cli")
    except InvalidRequest as exc:
        fail(f"no sample drawn: {exc}")
    db.session.commit()
    click.echo(f"population {summary['population']}, selected {summary['selected']} "
               f"(required {summary['required']}); R5 {summary['r5_selected']}/{summary['r5_population']}; "
               f"above tolerance {summary['exceeds_selected']}/{summary['exceeds_population']}")


def _state_command(name, fn_name, help_text):
    @campaigns_cli.command(name, help=help_text)
    @click.argument("campaign_id", type=ROW_ID)
    def command(campaign_id):
        from app.campaigns import service
        from app.reviews.service import InvalidRequest

        campaign = _campaign(campaign_id)
        try:
            getattr(service, fn_name)(campaign, "cli")
        except InvalidRequest as exc:
            fail(str(exc))
        db.session.commit()
        click.echo(f"campaign {campaign_id}: {campaign.status.value}")

    return command


_state_command("start", "start_campaign", "Start a draft campaign (the worker, or `run`, sends).")
_state_command("pause", "pause_campaign", "Pause a running campaign.")
_state_command("resume", "resume_campaign", "Resume a paused campaign.")
_state_command("cancel", "cancel_campaign", "Cancel a campaign; open targets are cancelled.")


@campaigns_cli.command("run")
@click.argument("campaign_id", type=ROW_ID)
@click.option("--quiet", "no_bar", is_flag=True, help="No progress bar.")
def run_command(campaign_id, no_bar):
    """Dispatch everything due now in this process, with a progress bar (the worker does this too)."""
    from app.campaigns import dispatch, service

    campaign = _campaign(campaign_id)
    if campaign.status.value != "running":
        fail(f"campaign {campaign_id} is {campaign.status.value}; start or resume it first")
    before = service.progress(campaign)
    length = before["total"]
    # On a terminal the bar redraws itself; elsewhere (a log, cron, a pipe) click prints only the
    # label, so each pass prints a plain "campaign N: done/total" line instead.
    lines = not no_bar and not click.get_text_stream("stdout").isatty()
    count = before["done"] + before["states"]["sent"]

    def on_pass(stats):
        nonlocal count
        count = min(length, count + stats.sent + stats.finalized)
        bar.update(stats.sent + stats.finalized)
        if lines and stats.claimed:
            click.echo(f"campaign {campaign_id}: {count}/{length}")

    with click.progressbar(length=length, label=f"campaign {campaign_id}", show_pos=True, hidden=no_bar) as bar:
        bar.update(count)
        total = dispatch.run_until_idle(campaign_id, on_pass=on_pass)
    db.session.expire_all()
    after = service.progress(service.get_campaign(campaign_id))
    click.echo(f"sent {total.sent}, failed {total.failed}, deferred {total.deferred}, finalised {total.finalized}; "
               f"campaign {after['status']}: " + ", ".join(f"{k} {v}" for k, v in after["states"].items() if v))


@campaigns_cli.command("status")
@click.argument("campaign_id", type=ROW_ID)
def status_command(campaign_id):
    """Progress per state, final state (zh/en) and channel, as JSON."""
    from app.campaigns.service import progress

    click.echo(json.dumps(progress(_campaign(campaign_id)), ensure_ascii=False, indent=2))


@campaigns_cli.command("followups")
@click.argument("campaign_id", type=ROW_ID)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
def followups_command(campaign_id, output):
    """Export the unreached/unanswered follow-up list as CSV (stdout or --output)."""
    from app.audit.service import record
    from app.campaigns.service import followups_csv

    campaign = _campaign(campaign_id)
    lines = followups_csv(campaign)
    if output:
        with output.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
    else:
        click.echo("".join(lines), nl=False)
    record("cli", "campaign.followups_export", "campaign", campaign.id, {})
    db.session.commit()


@holidays_cli.command("load")
@click.argument("file", type=TEXT_FILE)
def holidays_load_command(file):
    """Load exchange closures from FILE (the JSON format of delivery/data/cn_exchange_holidays.json)."""
    from app.campaigns.service import load_holidays
    from delivery.calendar import CalendarError

    try:
        years = load_holidays(file.text, "cli")
    except CalendarError as exc:
        fail(f"nothing loaded: {exc}")
    db.session.commit()
    click.echo("loaded years: " + ", ".join(map(str, years)))


@holidays_cli.command("list")
@click.argument("year", type=YEAR)
def holidays_list_command(year):
    """List the closed weekdays of YEAR in effect (database over the shipped file)."""
    from app.campaigns.service import trading_calendar

    cal = trading_calendar()
    for day in sorted(d for d in cal.closed if d.year == year):
        click.echo(f"{day.isoformat()}  {cal.closed[day]}")
    if year not in cal.known_years:
        click.echo(f"warning: no holidays known for {year}; only weekends are closed", err=True)


def register(app: Flask) -> None:
    """Attach this area's command groups to the app."""
    app.cli.add_command(campaigns_cli)
