"""The OpenAPI 3.1 document, kept in openapi.yaml beside this file and checked against the routes in tests."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SPEC_FILE = Path(__file__).with_name("openapi.yaml")


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    """The parsed OpenAPI document."""
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
