"""Fixtures of the followup tests: exceptions raised by real submitted answers."""
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.reviews.models import ReviewException
from tests.stats.builders import build_population


@pytest.fixture
def exceptions(make_client, publish, make_invitation):
    """The 5 exceptions of the generated population (clients served by S001 or S002), oldest first."""
    build_population(make_client, publish, make_invitation)
    return db.session.scalars(sa.select(ReviewException).order_by(ReviewException.id)).all()


@pytest.fixture
def exception(exceptions):
    """One high-severity exception of a client served by staff code S001."""
    return next(e for e in exceptions if e.severity.value == "high" and e.client.servicing_staff_code == "S001")


from tests.console.conftest import post, sign_in  # noqa: E402,F401  (shared console helpers)
