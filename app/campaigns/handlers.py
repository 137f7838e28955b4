"""Job handlers: the worker runs each running campaign's dispatch and schedules its next run."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.jobs import service as jobs

KIND = "campaigns.dispatch"


def schedule(campaign_id: int, run_at: datetime) -> None:
    """Enqueue a dispatch run (in the caller's transaction), one per campaign and minute."""
    minute = run_at.replace(second=0, microsecond=0)
    jobs.enqueue(KIND, {"campaign_id": campaign_id}, run_at=run_at,
                 dedupe_key=f"{KIND}:{campaign_id}:{minute.isoformat()}")


@jobs.handler(KIND, lease_seconds=900, max_attempts=50)
def dispatch_job(payload: dict, job) -> None:
    """Dispatch until nothing is due now, then schedule the next run when something will be due.

    Dispatch commits at its own phase boundaries (an attempt is recorded durably before its send).
    """
    from app.campaigns import dispatch
    from app.campaigns.models import Campaign, CampaignStatus
    from app.extensions import db

    campaign_id = int(payload["campaign_id"])
    now = jobs.now()
    dispatch.run_until_idle(campaign_id, now=now, max_passes=200)
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.RUNNING:
        return
    due = dispatch.next_due(campaign_id)
    if due is not None:
        schedule(campaign_id, max(due, now + timedelta(seconds=1)))
