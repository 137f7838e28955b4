"""Fixtures of the stats tests: a generated population with hand-computed expectations."""
import pytest

from tests.stats.builders import build_population


@pytest.fixture
def population(make_client, publish, make_invitation):
    """v1 and v2 of one questionnaire, 10 invitations, 7 responses; see builders.EXPECTED."""
    return build_population(make_client, publish, make_invitation)


from tests.console.conftest import post, sign_in  # noqa: E402,F401  (shared console helpers)
