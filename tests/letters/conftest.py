"""Helpers of the letters tests: reading the PDFs (poppler, zbar). The letter fixtures are in tests/conftest.py,
since the console and browser tests print letters too."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path


def pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    """The text of a PDF as pdftotext reads it (layout kept)."""
    args = ["pdftotext", "-layout"]
    if first:
        args += ["-f", str(first)]
    if last:
        args += ["-l", str(last)]
    return subprocess.run([*args, str(path), "-"], capture_output=True, text=True, check=True).stdout


def page_count(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def qr_codes(path: Path, page: int, tmp_path: Path, dpi: int = 200) -> list[str]:
    """Every QR code zbarimg decodes on a page rendered by pdftoppm."""
    prefix = tmp_path / f"page{page}"
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-singlefile",
                    str(path), str(prefix)], check=True)
    out = subprocess.run(["zbarimg", "-q", "--raw", str(prefix) + ".png"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def word_boxes(path: Path, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """(word, xMin, yMin, xMax, yMax) in millimetres from pdftotext -bbox."""
    html = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(path), "-"],
                          capture_output=True, text=True, check=True).stdout
    boxes = []
    for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html):
        x0, y0, x1, y1 = (float(v) * 25.4 / 72 for v in m.groups()[:4])
        boxes.append((m.group(5), x0, y0, x1, y1))
    return boxes
