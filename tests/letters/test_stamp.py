"""Stamped letters (print_letters/stamp.py) look like letters laid out one by one, and fall back to that."""
from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter

from app.extensions import db
from app.letters.service import letter_content
from print_letters.batch import Chunk, render_chunk
from print_letters.stamp import glyph_sheet, wrap
from tests.letters.conftest import page_count, pdf_text, qr_codes


def _contents(letter_invitation, make_client, people, lang=None):
    cache = {}
    contents = []
    for n, (name, address) in enumerate(people):
        invitation = letter_invitation(make_client(name=name, postal_address=address))
        contents.append(letter_content(invitation, f"HL-T{n:07d}", "dl", lang=lang, cache=cache))
    db.session.commit()
    return contents


def _render(contents, path: Path, stamp: bool):
    return render_chunk(Chunk(str(path), tuple(contents), stamp))


def _pages(pdf: Path, out: Path, dpi: int = 60) -> list[Image.Image]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(out)], check=True)
    return [Image.open(p).convert("L") for p in sorted(out.parent.glob(out.name + "-*.png"))]


def _stray_pixels(a: Image.Image, b: Image.Image, reach: int = 2) -> int:
    """Dark pixels of either page with no dark pixel of the other within `reach` pixels."""
    def dark(page):
        return page.point(lambda v: 255 if v < 128 else 0)

    def strays(one, other):
        missing = ImageChops.subtract(dark(one), dark(other).filter(ImageFilter.MaxFilter(2 * reach + 1)))
        return sum(1 for v in missing.getdata() if v)

    return strays(a, b) + strays(b, a)


PEOPLE = [("欧阳明月", "北京市海淀区中关村大街27号\n中关村大厦8层801室"), ("李雷", "上海市浦东新区世纪大道100号"),
          ("Anna Lee", "Flat 3, 18 Nathan Road\nTsim Sha Tsui, Kowloon")]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_stamped_pages_look_like_pages_laid_out_one_by_one(letter_invitation, make_client, tmp_path, lang):
    contents = [replace(c, with_qr=False) for c in _contents(letter_invitation, make_client, PEOPLE, lang)]
    stamped, laid_out = tmp_path / "stamped.pdf", tmp_path / "laid-out.pdf"
    assert [r.pages for r in _render(contents, stamped, True)] == [r.pages for r in _render(contents, laid_out, False)]
    pages_a, pages_b = _pages(stamped, tmp_path / "a"), _pages(laid_out, tmp_path / "b")
    assert len(pages_a) == len(pages_b) == page_count(laid_out)
    # Anti-aliasing, the stamp's unkerned Latin text ("HL-T…") and a name slot up to 1/8 em wider
    # than a Latin name move ink by a pixel or two at 60 dpi (measured: at most 25 stray pixels
    # a page); a Chinese name missing or misplaced leaves about 150.
    strays = [_stray_pixels(a, b) for a, b in zip(pages_a, pages_b)]
    assert max(strays) <= 40, strays
    # The measure sees a difference as small as another client's name on the same letter.
    other = _pages(laid_out, tmp_path / "c")
    assert _stray_pixels(pages_a[0], other[len(other) // 3]) > 100


def test_stamped_letters_carry_each_clients_own_values(letter_invitation, make_client, tmp_path):
    contents = _contents(letter_invitation, make_client, PEOPLE)
    results = _render(contents, tmp_path / "chunk.pdf", True)
    assert [r.first_page for r in results] == [1, 1 + results[0].pages, 1 + results[0].pages + results[1].pages]
    for content, result in zip(contents, results):
        first, last = result.first_page, result.first_page + result.pages - 1
        text = pdf_text(tmp_path / "chunk.pdf", first, last)
        assert content.recipient_name in text and content.short_code in text
        assert text.count(content.letter_id) >= result.pages + 1  # every page's footer and the cover
        assert f"请问您是{content.recipient_name}本人".replace(" ", "") in text.replace(" ", "")
        codes = qr_codes(tmp_path / "chunk.pdf", first, tmp_path, dpi=300)
        assert content.invitation_url in codes and content.letter_id in codes


def test_an_address_longer_than_the_window_is_laid_out_on_its_own(letter_invitation, make_client, tmp_path):
    long_address = "\n".join(f"第{n}行 上海市浦东新区世纪大道100号" for n in range(1, 8))
    contents = _contents(letter_invitation, make_client, [("王五", long_address), ("李雷", "上海市浦东新区世纪大道1号")])
    results = _render(contents, tmp_path / "chunk.pdf", True)
    assert [type(r).__name__ for r in results] == ["RenderedLetter", "RenderedLetter"]
    text = pdf_text(tmp_path / "chunk.pdf", 1, results[0].pages)
    assert "第1行" in text and "王五" in text
    assert "李雷" in pdf_text(tmp_path / "chunk.pdf", results[1].first_page)


def test_a_character_the_font_lacks_fails_that_letter_only(letter_invitation, make_client, tmp_path):
    contents = _contents(letter_invitation, make_client, [("王\U0001F600", "上海"), ("李雷", "上海市浦东新区世纪大道1号")])
    failed, printed = _render(contents, tmp_path / "chunk.pdf", True)
    assert type(failed).__name__ == "FailedLetter" and "U+1F600" in failed.reason
    assert printed.first_page == 1 and "李雷" in pdf_text(tmp_path / "chunk.pdf")


@pytest.fixture(scope="module")
def face():
    return glyph_sheet("上海市浦东新区世纪大道 Flat 3, 18 Nathan Road").faces[False]


@pytest.mark.parametrize("text, width, expected", [
    ("上海市浦东新区世纪大道", 4, ["上海市浦", "东新区世", "纪大道"]),
    ("Flat 3, 18 Nathan Road", 6, ["Flat 3, 18", "Nathan", "Road"]),
    ("上海市 Nathan Road", 20, ["上海市 Nathan Road"]),
])
def test_wrap_breaks_chinese_anywhere_and_latin_at_spaces(face, text, width, expected):
    assert wrap(face, text, width) == expected
