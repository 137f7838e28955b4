"""HTML to PDF with WeasyPrint: one font configuration and image cache per process, and a URL
fetcher that refuses `file:` and remote URLs it was not given.

Why many letters per PDF: WeasyPrint subsets every font once per written PDF. The CJK font is
large, so the naive one-PDF-per-letter pays the subsetting for every letter (about 70 ms with
HarfBuzz subsetting, seconds without it). Letters are laid out one by one (each its own
document, so "page n of m" counts per letter) and their pages written together into one PDF.
"""
from __future__ import annotations

import functools
from typing import Iterable, Mapping, Optional, Sequence

from weasyprint import CSS, HTML, Attachment, default_url_fetcher
from weasyprint.text.fonts import FontConfiguration


class RefusedURL(ValueError):
    """The document asked for a resource it was not given."""


def make_url_fetcher(allowed: Optional[Mapping[str, bytes]] = None):
    """A fetcher that serves data: URIs and the given {url: bytes}; anything else is refused."""
    allowed = dict(allowed or {})

    def fetch(url: str, timeout: int = 10, ssl_context=None):
        if url.startswith("data:"):
            return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
        if url in allowed:
            return {"string": allowed[url], "url": url}
        raise RefusedURL(f"refused to fetch {url.split('?')[0][:80]!r}: not one of the letter's resources")

    return fetch


@functools.lru_cache(maxsize=1)
def font_config() -> FontConfiguration:
    """The process's font configuration, shared by every document it renders."""
    return FontConfiguration()


# Decoded images by URL, shared by the documents of a process (WeasyPrint's `cache` option).
IMAGE_CACHE: dict = {}


@functools.lru_cache(maxsize=8)
def stylesheet(css_text: str) -> CSS:
    """A parsed stylesheet, parsed once per process."""
    return CSS(string=css_text, font_config=font_config(), url_fetcher=make_url_fetcher())


def layout(html: str, css_text: str, resources: Optional[Mapping[str, bytes]] = None):
    """Lay out one HTML document (a WeasyPrint Document: pages, not yet written)."""
    return HTML(string=html, url_fetcher=make_url_fetcher(resources), base_url=None).render(
        font_config=font_config(), stylesheets=[stylesheet(css_text)], cache=IMAGE_CACHE)


def write_pages(documents: Sequence, *, metadata: Optional[dict] = None, pdf_variant: Optional[str] = None,
                attachments: Iterable[Attachment] = ()) -> bytes:
    """Write the pages of the documents, in order, into one PDF (fonts subset once)."""
    pages = [page for document in documents for page in document.pages]
    combined = documents[0].copy(pages)
    for key, value in (metadata or {}).items():
        setattr(combined.metadata, key, value)
    return combined.write_pdf(pdf_variant=pdf_variant, attachments=list(attachments) or None,
                              uncompressed_pdf=False)


def render_pdf(html_sources: Sequence[str], css_text: str, *, resources: Optional[Mapping[str, bytes]] = None,
               metadata: Optional[dict] = None, pdf_variant: Optional[str] = None,
               attachments: Iterable[Attachment] = ()) -> bytes:
    """HTML sources in, PDF bytes out: each source laid out on its own, all written into one file."""
    documents = [layout(html, css_text, resources) for html in html_sources]
    return write_pages(documents, metadata=metadata, pdf_variant=pdf_variant, attachments=attachments)
