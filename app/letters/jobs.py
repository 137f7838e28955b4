"""The letters area's background job: rendering a print batch (registered when routes import this)."""
from __future__ import annotations

from app.extensions import db
from app.jobs.service import GiveUp, handler
from app.letters.models import LetterBatch
from app.letters.service import JOB_KIND, fail_batch, run_batch


@handler(JOB_KIND, lease_seconds=3600, max_attempts=3)
def render_batch_job(payload: dict, job) -> None:
    """Render the batch named in the payload; a failure marks the batch failed (and the job retries)."""
    batch_id = int(payload["batch_id"])
    if db.session.get(LetterBatch, batch_id) is None:
        raise GiveUp(f"letter batch {batch_id} does not exist")
    try:
        run_batch(batch_id)
    except Exception as exc:
        db.session.rollback()
        fail_batch(batch_id, f"{type(exc).__name__}: {exc}")
        raise
