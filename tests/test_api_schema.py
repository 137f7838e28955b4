"""The API against its own OpenAPI document, with requests schemathesis generates from it.

Each operation gets valid and invalid requests (wrong types, missing fields, values out of
range, huge numbers in paths and queries, methods a path does not take, no API key). Every answer
must be no 500, a status the document lists, JSON where it says JSON, and a body that matches the
documented schema; a request the document calls invalid must be refused; a method a path does not
take gets 405 with Allow; a request without the key gets 401.

Left out: schemathesis's "valid data is accepted" check. A request can match the schema and
still be refused with 422 by design: an unknown client account, a callback URL outside the API
key's prefixes, a definition whose show_if names a question that does not exist.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, missing_required_header, unsupported_method,
          ignored_auth]

api = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(app, api_key, publish, make_client):
    """The served document, with the client and questionnaire its examples name in the database.

    The test's API key is the schema's auth provider, not a header of each call: schemathesis
    then knows a request's credentials are real, and `ignored_auth` sends the same request
    again without them and with a wrong key, expecting 401 both times."""
    publish("suitability")
    make_client(account="A1000001")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)

    @schema.auth(refresh_interval=None)  # a new key per test: nothing to cache
    class TheTestsApiKey:
        def get(self, case, context):
            return api_key["Authorization"]

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": data}

    return schema


@api.parametrize()
# derandomize: the same requests on every run, so the suite cannot turn red by chance; a change to
# the document or a route changes them. The function-scoped fixture is reused across examples
# on purpose: the database fills up as a client's would.
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_openapi_document(case):
    case.call_and_validate(checks=CHECKS)
