"""Fixtures for mandatory sessions: the callback fixtures of tests/webhooks (an API key with a
whsec_ secret and loopback callbacks, a verifying receiver, worker processes), shared, not copied."""
from tests.webhooks.conftest import hook_key, receiver, start_worker  # noqa: F401 - pytest fixtures
