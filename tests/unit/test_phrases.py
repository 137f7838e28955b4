"""Refusals: English where they are kept or sent to machines, the reader's language on a page."""
from __future__ import annotations

import json
import pickle

import pytest

from app.phrases import Bilingual, Phrase, localized, phrase

TAKEN = "'%(name)s' is taken"


@pytest.fixture
def page_in(app):
    """A request context whose reader asks for this language."""
    def page(language: str):
        return app.test_request_context("/console/", headers={"Accept-Language": language})
    return page


def test_a_phrase_is_its_english_sentence_wherever_it_is_kept():
    reason = phrase(TAKEN, name="wang.wu")
    assert reason == "'wang.wu' is taken" and f"username: {reason}" == "username: 'wang.wu' is taken"
    assert json.loads(json.dumps({"message": reason})) == {"message": "'wang.wu' is taken"}


@pytest.mark.parametrize(("language", "shown"), [("zh-CN", "“wang.wu”已被使用"), ("en", "'wang.wu' is taken")])
def test_a_phrase_on_a_page_reads_in_the_readers_language(page_in, language, shown):
    with page_in(language):
        assert localized(phrase(TAKEN, name="wang.wu")) == shown


def test_a_phrase_the_catalog_lacks_stays_english_with_its_values(page_in):
    with page_in("zh-CN"):
        assert localized(phrase("no such sentence %(n)d in the catalog", n=7)) == "no such sentence 7 in the catalog"


def test_a_value_with_percent_signs_is_shown_as_given(page_in):
    with page_in("zh-CN"):
        assert localized(phrase(TAKEN, name="100%(x)s")) == "“100%(x)s”已被使用"


def test_plain_text_is_shown_as_it_is(page_in):
    with page_in("zh-CN"):
        assert localized("is taken") == "is taken"


def test_a_phrase_survives_pickling_with_its_catalog_entry(page_in):
    copy = pickle.loads(pickle.dumps(phrase(TAKEN, name="wang.wu")))
    assert isinstance(copy, Phrase) and copy == "'wang.wu' is taken"
    with page_in("zh-CN"):
        assert copy.localized() == "“wang.wu”已被使用"


def test_a_phrase_within_a_phrase_reads_in_the_same_language(page_in):
    reason = phrase("%(field)s: %(reason)s", field="username", reason=phrase(TAKEN, name="wang.wu"))
    assert reason == "username: 'wang.wu' is taken"
    with page_in("zh-CN"):
        assert localized(reason) == "username：“wang.wu”已被使用"


@pytest.mark.parametrize(("language", "shown"), [("zh-CN", "username：请回答此问题。"),
                                                 ("en", "username: Please answer this question.")])
def test_a_value_with_its_own_translations_reads_in_the_readers_language(page_in, language, shown):
    reason = phrase("%(field)s: %(reason)s", field="username",
                    reason=Bilingual({"zh-CN": "请回答此问题。", "en": "Please answer this question."}))
    copy = pickle.loads(pickle.dumps(reason))
    assert copy == reason == "username: Please answer this question."
    with page_in(language):
        assert localized(copy) == shown
