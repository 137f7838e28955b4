"""HTML to PDF with WeasyPrint; the fetcher refuses files and remote URLs (nothing leaks in or out)."""
from __future__ import annotations

from weasyprint import CSS, HTML
from weasyprint.urls import default_url_fetcher


def _fetcher(url: str, *args, **kwargs):
    """Only inline data: URLs are fetched; a report never reads the disk or the network."""
    if url.startswith("data:"):
        return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"refused to fetch {url[:80]!r} while rendering a report")


def render_pdf(html: str, css: str = "") -> bytes:
    """The PDF of an HTML document (charts are inline SVG), with an optional stylesheet."""
    stylesheets = [CSS(string=css, url_fetcher=_fetcher)] if css else []
    return HTML(string=html, url_fetcher=_fetcher, base_url="about:blank").write_pdf(stylesheets=stylesheets)
