"""Resume after a worker is killed mid-campaign (SIGKILL): every client gets exactly one message."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.campaigns import dispatch
from app.campaigns.models import AttemptStatus, CampaignTarget, SendAttempt, TargetState
from app.db_types import utcnow
from app.extensions import db
from tests.campaigns.conftest import sms_lines

ROOT = Path(__file__).resolve().parents[2]
WORKER = textwrap.dedent("""
    import sys, time
    from app import create_app
    from app.campaigns import dispatch
    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEYS": ["test-old-key", "test-signing-key"],
                      "SMS_PROVIDER": "file", "SMS_FILE_PATH": sys.argv[2], "CAMPAIGN_BATCH_SIZE": 5,
                      "PUBLIC_BASE_URL": "http://localhost"})
    with app.app_context():
        dispatch.run_until_idle(int(sys.argv[3]))
""")


@pytest.mark.slow
def test_worker_killed_mid_campaign_resumes_with_nothing_sent_twice(app, make_client, make_campaign, start, sms_file):
    from app.campaigns.service import add_target_rows

    clients = [make_client(phone=f"139{i:08d}") for i in range(120)]
    phones = sorted(c.phone for c in clients)
    campaign = make_campaign(channel_plan=["sms"], quiet_start="00:00", quiet_end="00:00")
    add_target_rows(campaign, [{"account": c.account} for c in clients], "test", "csv")
    db.session.commit()
    start(campaign)
    campaign_id = campaign.id
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.remove()
    worker = subprocess.Popen([sys.executable, "-c", WORKER, url, str(sms_file), str(campaign_id)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while len(sms_lines(sms_file)) < 30 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    sent_before = len(sms_lines(sms_file))
    assert 0 < sent_before < 120, "the worker was not killed mid-campaign"
    # A new worker after the lease: attempts left 'sending' are resolved from the sink's record.
    dispatch.run_until_idle(campaign_id, now=utcnow() + timedelta(seconds=301))
    lines = sms_lines(sms_file)
    keys = [line["id"] for line in lines]
    assert len(keys) == len(set(keys)) == 120
    assert sorted(line["to"] for line in lines) == phones
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SendAttempt).where(
        SendAttempt.status == AttemptStatus.SENT)) == 120
    assert set(db.session.scalars(sa.select(CampaignTarget.state))) == {TargetState.SENT}
