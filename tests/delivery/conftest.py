from tests.campaigns.conftest import http_receiver, smtp_server  # noqa: F401 - shared fixtures
