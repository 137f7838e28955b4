"""Rendering a batch: letters in chunks (one PDF per chunk, sized for the print shop), in as many
processes as there are cores, each process with its own shared font configuration and image cache.

Plain Python: the caller gathers LetterContent objects (from the database or anywhere) and gets
back, per letter, the file it landed in and its page count, for the manifest.
"""
from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from print_letters.glyphs import MissingGlyph
from print_letters.layout import LetterContent, letter_html, page_css
from print_letters.render import layout, write_pages
from print_letters.stamp import (
    DoesNotFit, Stamper, check_personal, group_key, personal_chars, questionnaire_keys, slot_widths, template_cache,
)


@dataclass(frozen=True)
class RenderedLetter:
    """Where a letter was printed: the chunk file, its first page in that file, its page count."""

    letter_id: str
    file: str
    first_page: int
    pages: int


@dataclass(frozen=True)
class FailedLetter:
    """A letter that could not be built (a character the font lacks): reported, never printed blank."""

    letter_id: str
    reason: str


@dataclass(frozen=True)
class Chunk:
    """A slice of the batch written to one PDF file."""

    path: str
    letters: tuple[LetterContent, ...]
    stamp: bool = True  # False: every letter laid out on its own (the design before print_letters.stamp)


def render_chunk(chunk: Chunk) -> list[RenderedLetter | FailedLetter]:
    """Write the chunk's letters, in order, into one PDF; a letter that cannot be built is reported."""
    return stamp_chunk(chunk) if chunk.stamp else layout_chunk(chunk)


def stamp_chunk(chunk: Chunk) -> list[RenderedLetter | FailedLetter]:
    """Template pages plus each letter's stamp (print_letters.stamp); letters that do not fit, laid out."""
    failed = {}
    for content in chunk.letters:
        try:
            check_personal(content)
        except MissingGlyph as exc:
            failed[content.letter_id] = FailedLetter(content.letter_id, f"missing glyph: {exc}")
    printable = [content for content in chunk.letters if content.letter_id not in failed]
    if not printable:
        return list(failed.values())
    try:
        stamper = Stamper(personal_chars(printable))
    except DoesNotFit:  # no glyph sheet, no stamp: every letter laid out on its own
        return layout_chunk(chunk)
    keys, cache, first_page, results = questionnaire_keys(printable), template_cache(), 1, []
    name = os.path.basename(chunk.path)
    for content in chunk.letters:
        if content.letter_id in failed:
            results.append(failed[content.letter_id])
            continue
        try:
            pages = _stamp_or_layout(stamper, cache, keys, content)
        except MissingGlyph as exc:
            results.append(FailedLetter(content.letter_id, f"missing glyph: {exc}"))
            continue
        results.append(RenderedLetter(content.letter_id, name, first_page, pages))
        first_page += pages
    if first_page > 1:
        _write_atomically(chunk.path, lambda tmp: stamper.save(tmp, name))
    return results


def _stamp_or_layout(stamper: Stamper, cache, keys: dict, content: LetterContent) -> int:
    try:
        widths = slot_widths(stamper.faces, content)
        template = cache.get(group_key(content, keys[id(content.questionnaire)], widths), content, widths)
        return stamper.add_stamped(template, content)
    except DoesNotFit:
        return stamper.add_document(layout(letter_html(content), page_css(content.lang)).write_pdf())


def layout_chunk(chunk: Chunk) -> list[RenderedLetter | FailedLetter]:
    """Lay out each letter on its own (page n of m per letter) and write them all into one PDF."""
    documents, rendered, first_page = [], [], 1
    for content in chunk.letters:
        try:
            html = letter_html(content)
        except MissingGlyph as exc:
            rendered.append(FailedLetter(content.letter_id, f"missing glyph: {exc}"))
            continue
        document = layout(html, page_css(content.lang))
        documents.append(document)
        rendered.append(RenderedLetter(content.letter_id, os.path.basename(chunk.path), first_page,
                                       len(document.pages)))
        first_page += len(document.pages)
    if not documents:
        return rendered
    pdf = write_pages(documents, metadata={"title": os.path.basename(chunk.path)})
    _write_atomically(chunk.path, lambda tmp: Path(tmp).write_bytes(pdf))
    return rendered


def _write_atomically(path: str, write: Callable[[str], object]) -> None:
    tmp = path + ".part"
    write(tmp)
    os.replace(tmp, path)  # a chunk file is either whole or absent


def _warm_up() -> None:
    """Load the fonts and parse the stylesheets once per worker, before the first chunk."""
    from print_letters.glyphs import covered_codepoints
    from print_letters.render import font_config, stylesheet

    covered_codepoints()
    font_config()
    for lang in ("zh-CN", "en"):
        stylesheet(page_css(lang))


def split_chunks(letters: Sequence[LetterContent], out_dir: Path, chunk_size: int,
                 prefix: str = "letters", stamp: bool = True) -> list[Chunk]:
    """Cut the letters into chunks of chunk_size, named prefix-0001.pdf, prefix-0002.pdf, …"""
    return [Chunk(str(out_dir / f"{prefix}-{i // chunk_size + 1:04d}.pdf"), tuple(letters[i:i + chunk_size]), stamp)
            for i in range(0, len(letters), chunk_size)]


def render_batch(letters: Sequence[LetterContent], out_dir: Path, *, chunk_size: int = 50,
                 processes: Optional[int] = None, prefix: str = "letters",
                 progress: Optional[Callable[[int], None]] = None,
                 stamp: bool = True) -> list[RenderedLetter | FailedLetter]:
    """Render all letters into chunk PDFs under out_dir; progress(n) is called as n more letters are done.

    processes=None uses every core; 1 renders in this process (tests, tiny batches).
    Results come back in the letters' order whatever order the chunks finish in; a letter that
    cannot be built comes back as a FailedLetter with the reason.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = split_chunks(letters, out_dir, chunk_size, prefix, stamp)
    processes = min(processes or os.cpu_count() or 1, max(len(chunks), 1))
    results: dict[int, list[RenderedLetter]] = {}
    if processes <= 1:
        for index, chunk in enumerate(chunks):
            results[index] = render_chunk(chunk)
            if progress:
                progress(len(chunk.letters))
    else:
        # forkserver: workers start clean (no copy of the caller's database connections or threads).
        context = multiprocessing.get_context("forkserver")
        with context.Pool(processes, initializer=_warm_up, maxtasksperchild=50) as pool:
            for index, rendered in pool.imap_unordered(_indexed_render, list(enumerate(chunks))):
                results[index] = rendered
                if progress:
                    progress(len(rendered))
    return [letter for index in sorted(results) for letter in results[index]]


def _indexed_render(item: tuple[int, Chunk]) -> tuple[int, list[RenderedLetter | FailedLetter]]:
    index, chunk = item
    return index, render_chunk(chunk)


def iter_chunks(items: Iterable, size: int):
    """Yield lists of at most size items."""
    bucket = []
    for item in items:
        bucket.append(item)
        if len(bucket) == size:
            yield bucket
            bucket = []
    if bucket:
        yield bucket
