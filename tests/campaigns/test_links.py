"""The campaign worker builds its links by hand (no request context); they are the routes' own links."""
import pytest

from app.campaigns import channels
from app.reviews import service as reviews


@pytest.mark.parametrize("base", ["https://review.example.com", "https://review.example.com/", "http://127.0.0.1:5000"])
def test_hand_built_links_equal_the_links_the_routes_build(app, make_invitation, base):
    app.config["PUBLIC_BASE_URL"] = base
    invitation = make_invitation()
    token = reviews.link_signer().sign(invitation.public_id)
    with app.test_request_context():
        assert channels.short_link(invitation.short_code) == reviews.short_url(invitation)
        assert channels.form_link(token) == reviews.public_url("respond.form", token=token)
