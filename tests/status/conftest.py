"""Fixtures of the status tests."""
from tests.audit.conftest import chain, tamper  # noqa: F401  (ten audit entries; SQL past the guards)
