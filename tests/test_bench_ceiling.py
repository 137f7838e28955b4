"""The client-path benchmark's ceiling (benchmarks/_ceiling_app.py) answers exactly as the real app did.

The ceiling is the most any server could reach on the benchmark; it is only that if it sends the
phone the same bytes as the real path, step by step, and sends it through the same steps.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from _ceiling_app import ceiling_app  # noqa: E402
from bench_client_path import CAPTURED_STEPS as STEPS  # noqa: E402
from bench_client_path import CSRF_RE, capture_path, walk_in_process  # noqa: E402
from tests.test_respond_flow import GOOD_ANSWERS, path_of  # noqa: E402


@pytest.fixture
def captured(app, make_invitation):
    """One invitation's real path, captured; and its link."""
    invitation = make_invitation()
    link = path_of(invitation)
    return capture_path(app, link, list(GOOD_ANSWERS.items())), link


@pytest.fixture
def ceiling(captured, tmp_path, monkeypatch):
    """A test client of the ceiling app serving the captured responses."""
    steps, _link = captured
    responses = tmp_path / "ceiling.json"
    responses.write_text(json.dumps(steps), encoding="utf-8")
    monkeypatch.setenv("CEILING_RESPONSES", str(responses))
    return ceiling_app().test_client()


def walk(client, link: str) -> dict:
    """The benchmark's six requests (bench_client_path.walk_in_process), each step's answer by name."""
    answers = []

    def call(_kind, method, url, _expected, data=None):
        answers.append(client.open(url, method=method, data=data))
        return answers[-1].get_data(as_text=True)

    walk_in_process(call, link, list(GOOD_ANSWERS.items()))
    return dict(zip(STEPS, answers))


def test_the_capture_keeps_the_real_pages(captured):
    steps, _link = captured
    assert [steps[s]["status"] for s in STEPS] == [303, 200, 303, 200, 303, 200]
    assert CSRF_RE.search(steps["identity"]["body"]) and CSRF_RE.search(steps["form"]["body"])
    assert "张三丰" in steps["form"]["body"]  # the client's own form, placeholders filled


@pytest.mark.parametrize("step", STEPS)
def test_the_ceiling_sends_each_step_as_the_real_app_sent_it(captured, ceiling, step):
    steps, link = captured
    answer = walk(ceiling, link)[step]
    assert answer.status_code == steps[step]["status"]
    assert answer.get_data(as_text=True) == steps[step]["body"]
    assert answer.headers.getlist("Set-Cookie") == [v for k, v in steps[step]["headers"] if k == "Set-Cookie"]
    assert answer.headers.get("Content-Security-Policy") == dict(steps[step]["headers"]).get("Content-Security-Policy")


def test_the_ceiling_sends_a_phone_without_the_identity_cookie_to_the_identity_page(captured, ceiling):
    _steps, link = captured
    first = ceiling.get(link)
    assert first.status_code == 303 and first.headers["Location"].endswith(link + "/identity")
