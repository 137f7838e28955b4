"""The zh-CN catalog against the source: what `make translations` extracts is what the catalog holds."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def make_target_keywords() -> list[str]:
    """The -k options the Makefile's `translations` target gives pybabel extract."""
    recipe = re.search(r"^translations:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    return re.findall(r"-k (\S+)", recipe)


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    """The msgids pybabel extract finds with the project's babel.cfg and the Makefile's keywords."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(make_target_keywords())}
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    return {message if isinstance(message, str) else message[0] for _file, _line, message, _c, _ctx in found}


@pytest.fixture(scope="module")
def catalog() -> dict[str, object]:
    """The catalog's messages by msgid (the singular of a plural)."""
    with CATALOG.open("rb") as src:
        return {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(src) if m.id}


def test_the_extractor_finds_every_message_the_catalog_translates(extracted, catalog):
    # A template tag the extractor did not know ({% cache %}) made it skip the rest of that template
    # without a word, and `make translations` then dropped those messages from the catalog. babel.cfg
    # now sets silent = false, so such a tag stops the extraction (and this fixture) with its name.
    assert sorted(set(catalog) - extracted) == []


def test_every_extracted_message_is_translated(extracted, catalog):
    untranslated = sorted(msgid for msgid in extracted
                          if msgid not in catalog or not all(catalog[msgid].string if isinstance(catalog[msgid].string, tuple)
                                                             else [catalog[msgid].string]))
    assert untranslated == []
