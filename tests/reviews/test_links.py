"""Links built outside a request (worker, CLI, letter batches) carry the public base URL once."""
from __future__ import annotations

import threading

import pytest

from app.extensions import db
from app.reviews.models import Invitation
from app.reviews.service import invitation_url, short_url


def _outside_a_request(app, build, invitation_id):
    # pytest-flask pushes a request context for the test itself; a new thread has none, as the
    # worker and the CLI have none.
    built = []

    def run():
        with app.app_context():
            built.append(build(db.session.get(Invitation, invitation_id)))
            db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return built[0]


@pytest.mark.parametrize("build, path", [(invitation_url, "/q/"), (short_url, "/s/")])
def test_link_built_outside_a_request_names_the_host_once(app, make_invitation, build, path):
    app.config["PUBLIC_BASE_URL"] = "https://review.example.com"
    invitation = make_invitation()
    db.session.commit()
    assert app.config["SERVER_NAME"]  # with it, url_for outside a request would add its own host
    link = _outside_a_request(app, build, invitation.id)
    assert link.startswith("https://review.example.com" + path)
    assert link.count("://") == 1 and "localhost" not in link
