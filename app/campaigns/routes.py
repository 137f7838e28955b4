"""Routes of the campaigns area: console pages, the campaigns API and the providers' receipts."""
from __future__ import annotations

import hmac
from datetime import date, datetime

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.api.auth import actor as api_actor, current_api_key, require_api_key
from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.campaigns import dispatch, handlers  # noqa: F401 - registers the job handler
from app.campaigns import service
from app.campaigns.channels import CHANNELS
from app.campaigns.models import CampaignTarget
from app.clients.service import mask_email, mask_name, mask_phone
from app.console.nav import nav_item
from app.errors import abort_with
from app.extensions import db
from app.params import whole_number
from app.phrases import phrase, with_field
from app.reviews.service import InvalidRequest
from app.reviews.signals import register_invitation_link, response_stored

bp = Blueprint("campaigns", __name__, url_prefix="/console/campaigns", template_folder="templates",
               static_folder="static", static_url_path="/static")
api_bp = Blueprint("campaigns_api", __name__, url_prefix="/api/v1/campaigns")
receipts_bp = Blueprint("delivery_receipts", __name__, url_prefix="/delivery/receipts")
blueprints = [bp, api_bp, receipts_bp]

MANAGERS = (Role.REVIEW_MANAGER,)
VIEWERS = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.AUDITOR)
nav_item("Campaigns", "campaigns.index", VIEWERS, order=30)
# A stored response completes its target (same transaction).
register_invitation_link(service.INVITATION_LINK, CampaignTarget.id, CampaignTarget.invitation_id)
response_stored.connect(service.on_response_stored)


def get_campaign_or_404(campaign_id: int):
    campaign = service.get_campaign(campaign_id)
    if campaign is None:
        abort_with(404, phrase("No such campaign."))  # English in the API's JSON, the reader's on a page
    return campaign


def _whole_number(text: str, field: str) -> int:
    """A whole number from 1 as typed; InvalidRequest naming the field for anything else.

    Before, what was not digits was dropped without a word, and "²" (a digit to str.isdigit, not to
    int) was a 500.
    """
    try:
        return whole_number(text, 1, 1_000_000)
    except ValueError:
        raise InvalidRequest(field, phrase("must be whole numbers from 1, e.g. 3, 7")) from None


def _rates(form) -> dict[str, int]:
    """Sends per minute for each channel whose box was filled in."""
    return {channel: _whole_number(form[f"rate_{channel}"], "rate_limits")
            for channel in CHANNELS if form.get(f"rate_{channel}", "").strip()}


def _time(value: str | None, field: str):
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(field, phrase("not a date and time")) from None
    if parsed.tzinfo is None:
        from delivery.calendar import EXCHANGE_TZ

        parsed = parsed.replace(tzinfo=EXCHANGE_TZ)
    return parsed


# ---------------------------------------------------------------- console

@bp.get("/")
@roles_required(*VIEWERS)
def index():
    """All campaigns with their counts."""
    campaigns = service.list_campaigns()
    return render_template("campaigns/index.html", campaigns=campaigns,
                           progress={c.id: service.progress(c) for c in campaigns})


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new():
    """Create a draft campaign."""
    from app.definitions.service import list_questionnaires

    form = request.form
    if request.method == "POST":
        try:
            spec = service.CampaignSpec(
                name=form.get("name", ""), questionnaire_key=form.get("questionnaire", ""),
                review_type=form.get("review_type") or None,
                channel_plan=[c.strip() for c in form.get("channel_plan", "").split(",") if c.strip()],
                reminder_days=[_whole_number(day, "reminder_days")
                               for day in form.get("reminder_days", "").split(",") if day.strip()],
                quiet_start=form.get("quiet_start", "21:00"), quiet_end=form.get("quiet_end", "08:00"),
                window_starts_at=_time(form.get("window_starts_at"), "window_starts_at"),
                window_ends_at=_time(form.get("window_ends_at"), "window_ends_at"),
                deadline=_time(form.get("deadline"), "deadline"),
                rate_limits=_rates(form),
                sms_text=form.get("sms_text") or None, email_subject=form.get("email_subject") or None,
                email_text=form.get("email_text") or None)
            campaign = service.create_campaign(spec, actor_name())
        except InvalidRequest as exc:
            db.session.rollback()
            return render_template("campaigns/new.html", form=form, error=exc, questionnaires=list_questionnaires(),
                                   channels=CHANNELS), 422
        db.session.commit()
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id), 303)
    return render_template("campaigns/new.html", form=form, error=None, questionnaires=list_questionnaires(),
                           channels=CHANNELS)


@bp.get("/<int:campaign_id>")
@roles_required(*VIEWERS)
def detail(campaign_id: int):
    """Progress per channel and state, sampling ratios, the latest follow-ups (masked)."""
    campaign = get_campaign_or_404(campaign_id)
    follow = list(service.followups(campaign.id, limit=100))
    return render_template("campaigns/detail.html", campaign=campaign, progress=service.progress(campaign),
                           ratios=service.sampling_ratios(campaign), followups=follow, wording=service.FINAL_WORDING,
                           mask_name=mask_name, mask_phone=mask_phone, mask_email=mask_email)


@bp.get("/<int:campaign_id>/progress.json")
@roles_required(*VIEWERS)
def progress_json(campaign_id: int):
    """The live counter's data."""
    return jsonify(service.progress(get_campaign_or_404(campaign_id)))


@bp.post("/<int:campaign_id>/<any(start, pause, resume, cancel):action>")
@roles_required(*MANAGERS)
def change_state(campaign_id: int, action: str):
    """Start, pause, resume or cancel."""
    campaign = get_campaign_or_404(campaign_id)
    try:
        getattr(service, f"{action}_campaign")(campaign, actor_name())
    except InvalidRequest as exc:
        db.session.rollback()
        abort_with(409 if isinstance(exc, service.CampaignStateError) else 422, with_field(exc.field, exc.message), field=exc.field)
    db.session.commit()
    flash(_("Campaign %(name)s is %(status)s.", name=campaign.name, status=campaign.status.value))
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), 303)


@bp.post("/<int:campaign_id>/targets")
@roles_required(*MANAGERS)
def add_targets(campaign_id: int):
    """Add targets from an uploaded CSV (all rows or none) or by client filter."""
    campaign = get_campaign_or_404(campaign_id)
    upload = request.files.get("csv")
    try:
        if upload and upload.filename:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                abort_with(422, _("The CSV file must be UTF-8."), field="csv")
            added = service.import_targets_csv(campaign, text, actor_name())
        else:
            filters = {k: v for k, v in (("branch", request.form.get("branch")),
                                         ("risk_levels", request.form.getlist("risk_levels")),
                                         ("servicing_staff_code", request.form.get("servicing_staff_code"))) if v}
            added = service.add_targets_by_filter(campaign, filters, actor_name())
    except service.TargetImportError as exc:
        db.session.rollback()
        return render_template("campaigns/import_errors.html", campaign=campaign, errors=exc.errors), 422
    except InvalidRequest as exc:
        db.session.rollback()
        abort_with(422, with_field(exc.field, exc.message), field=exc.field)
    db.session.commit()
    flash(_("%(n)d targets added.", n=added))
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), 303)


@bp.post("/<int:campaign_id>/sample")
@roles_required(*MANAGERS)
def sample(campaign_id: int):
    """Draw the seeded stratified sample."""
    campaign = get_campaign_or_404(campaign_id)
    form = request.form

    def value(name, parse, default, refusal):
        try:
            return parse(form.get(name) or default)
        except ValueError:
            raise InvalidRequest(name, refusal) from None

    try:
        spec = service.SampleSpec(as_of=value("as_of", date.fromisoformat, "", phrase("must be a date as YYYY-MM-DD")),
                                  seed=value("seed", int, "", phrase("must be a whole number")),
                                  ratio=value("ratio", float, "0.10", phrase("must be a number, e.g. 0.10")),
                                  r5_ratio=value("r5_ratio", float, "0.30", phrase("must be a number, e.g. 0.30")),
                                  stratify_by=form.get("stratify_by") or "branch")
        service.draw_sample(campaign, spec, actor_name())
    except InvalidRequest as exc:
        db.session.rollback()
        abort_with(422, with_field(exc.field, exc.message), field=exc.field)
    db.session.commit()
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), 303)


@bp.get("/<int:campaign_id>/followups.csv")
@roles_required(*MANAGERS)
def followups_csv(campaign_id: int):
    """The unreached / unanswered list for the phone team (unmasked: the export is audited)."""
    campaign = get_campaign_or_404(campaign_id)
    from app.audit.service import record

    record(actor_name(), "campaign.followups_export", "campaign", campaign.id, {}, request.remote_addr)
    db.session.commit()
    return Response(service.followups_csv(campaign), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=campaign-{campaign.id}-followups.csv"})


# ---------------------------------------------------------------- API

@api_bp.before_request
def _authenticate():
    return require_api_key()


@api_bp.post("/<int:campaign_id>/targets")
def api_add_targets(campaign_id: int):
    """Add targets: {"targets": [{"account", "event_at"?, "context"?, "mandatory"?, "callback_url"?}]}."""
    campaign = get_campaign_or_404(campaign_id)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list) or not data["targets"]:
        abort_with(400, "send a JSON object with a non-empty 'targets' array", field="targets")
    if len(data["targets"]) > 10_000:
        abort_with(413, "at most 10000 targets per request", field="targets")
    try:
        added = service.add_target_rows(campaign, data["targets"], api_actor(), "api", first_row=0,
                                        api_key=current_api_key())
    except service.TargetImportError as exc:
        db.session.rollback()
        abort_with(422, "no target was added; fix the rows named", field="targets",
                   errors=[e.as_dict() for e in exc.errors])
    except InvalidRequest as exc:
        db.session.rollback()
        abort_with(409 if isinstance(exc, service.CampaignStateError) else 422, str(exc), field=exc.field)
    db.session.commit()
    return jsonify({"campaign_id": campaign.id, "added": added}), 201


@api_bp.get("/<int:campaign_id>")
def api_progress(campaign_id: int):
    """The campaign's progress."""
    return jsonify(service.progress(get_campaign_or_404(campaign_id)))


# ---------------------------------------------------------------- delivery receipts

@receipts_bp.post("/<provider>/<token>")
def receipt(provider: str, token: str):
    """Providers' delivery reports (SMS status, email bounces); authenticated by a secret URL token."""
    from delivery.sms import setting

    expected = setting(current_app.config, "DELIVERY_RECEIPT_TOKEN")
    # Bytes: compare_digest refuses str with non-ASCII characters, which a URL can carry.
    if not expected or not hmac.compare_digest(token.encode(), str(expected).encode()):
        abort_with(404, "not found")
    adapter = _receipt_parser(provider)
    try:
        receipts = adapter.parse_receipts(request.get_data())
    except ValueError as exc:
        abort_with(400, str(exc), field="body")
    try:
        matched = sum(1 for r in receipts if dispatch.apply_receipt(provider, r) is not None)
    except dispatch.ReceiptTooEarly:
        # Providers re-push a report answered with 5xx (Alibaba after 1, 5, 10 minutes); repeats are harmless.
        db.session.rollback()
        return jsonify({"ok": False, "error": "the send is still being recorded; retry later"}), 503, \
            {"Retry-After": "60"}
    db.session.commit()
    ack = getattr(adapter, "receipt_ack", {"ok": True})
    if provider in ("http", "file", "email"):
        ack = {"ok": True, "received": len(receipts), "matched": matched}
    return jsonify(ack)


def _receipt_parser(provider: str):
    from delivery.sms.aliyun import AliyunSms
    from delivery.sms.http_json import parse_generic_receipts
    from delivery.sms.tencent import TencentSms

    class Generic:
        receipt_ack = {"ok": True}

        @staticmethod
        def parse_receipts(body):
            return parse_generic_receipts(body)

    parsers = {"aliyun": AliyunSms.__new__(AliyunSms), "tencent": TencentSms.__new__(TencentSms),
               "http": Generic(), "file": Generic(), "email": Generic()}
    if provider not in parsers:
        abort_with(404, "unknown provider")
    return parsers[provider]
