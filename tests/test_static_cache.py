"""Static files under URLs that name their content (app/assets.py): kept a year, never stale."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import url_for

from app.assets import IMMUTABLE
from tests.test_respond_flow import path_of

STATIC_FILES = [("static", "css/app.css"), ("static", "js/form.js"), ("mandatory.static", "gate.js"),
                ("campaigns.static", "progress.js")]


def digest_of(app, endpoint: str, filename: str) -> str:
    """The first 12 hex digits of the SHA-256 of the file, read here independently of the app."""
    folder = app.static_folder if endpoint == "static" else app.blueprints[endpoint.split(".")[0]].static_folder
    return hashlib.sha256((Path(folder) / filename).read_bytes()).hexdigest()[:12]


def fetch(client, url: str, **kwargs):
    """GET a static file; the response is closed (it streams the file) and returned for its headers."""
    response = client.get(url, **kwargs)
    response.close()
    return response


def static_url(app, endpoint: str, filename: str) -> str:
    with app.test_request_context():
        return url_for(endpoint, filename=filename)


@pytest.mark.parametrize("endpoint, filename", STATIC_FILES)
def test_a_static_url_names_the_digest_of_its_file(app, endpoint, filename):
    query = parse_qs(urlsplit(static_url(app, endpoint, filename)).query)
    assert query == {"v": [digest_of(app, endpoint, filename)]}


def test_the_client_pages_link_their_stylesheet_by_digest(app, client, make_invitation):
    page = client.get(path_of(make_invitation()) + "/identity").get_data(as_text=True)
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    assert href == "/static/css/app.css?v=" + digest_of(app, "static", "css/app.css")


@pytest.mark.parametrize("endpoint, filename", STATIC_FILES)
def test_a_file_asked_for_by_its_digest_may_be_kept_a_year(app, client, endpoint, filename):
    response = fetch(client, static_url(app, endpoint, filename))
    assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE


def test_a_revalidated_file_keeps_its_year(app, client):
    url = static_url(app, "static", "css/app.css")
    etag = fetch(client, url).headers["ETag"]
    response = fetch(client, url, headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize("query", ["", "?v=000000000000"], ids=["no digest", "an old digest"])
def test_a_file_asked_for_without_its_current_digest_is_revalidated(client, query):
    response = fetch(client, "/static/css/app.css" + query)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"


def test_a_changed_file_gets_a_new_url_and_the_old_one_is_revalidated(app, client, tmp_path):
    app.static_folder, app.debug = str(tmp_path), True  # debug: files may change while it runs
    (tmp_path / "a.css").write_text("p{color:#000}")
    before = static_url(app, "static", "a.css")
    (tmp_path / "a.css").write_text("p{color:#111}")
    after = static_url(app, "static", "a.css")
    assert before != after
    assert fetch(client, after).headers["Cache-Control"] == IMMUTABLE
    assert fetch(client, before).headers["Cache-Control"] == "no-cache"


def test_pages_are_still_never_stored(client, make_invitation):
    assert client.get(path_of(make_invitation()) + "/identity").headers["Cache-Control"] == "no-store"
