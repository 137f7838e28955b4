"""QR codes as small SVG images: vector on paper (sharp at any printer resolution), cheap to make."""
from __future__ import annotations

import base64
import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M


# Letters use one fixed mask pattern. The encoder's search for the best of the eight (a penalty
# score per mask, ISO/IEC 18004 7.8.3) took 9 ms of the 11 ms of stamping a letter; a decoder
# reads any mask (it is written in the format information), and the tests decode every code
# printed. Pattern 0, the checkerboard, breaks up long runs and blocks on its own.
LETTER_MASK = 0


def qr_matrix(data: str, error_correction: int = ERROR_CORRECT_M,
              mask_pattern: int | None = None) -> list[list[bool]]:
    """The module matrix of a QR code for data, with the standard 4-module quiet zone.

    mask_pattern None searches for the best mask (as encoders do by default); 0-7 fixes it.
    """
    code = qrcode.QRCode(error_correction=error_correction, border=4, mask_pattern=mask_pattern)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_svg(data: str, error_correction: int = ERROR_CORRECT_M) -> str:
    """An SVG document drawing the QR code: one path, one run of dark modules per segment."""
    matrix = qr_matrix(data, error_correction)
    size = len(matrix)
    segments = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                segments.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d="{"".join(segments)}"/></svg>')


def qr_data_uri(data: str, error_correction: int = ERROR_CORRECT_M) -> str:
    """The QR code as a data: URI for an <img> (the renderer caches images by URI)."""
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(data, error_correction).encode()).decode()


def qr_png_data_uri(data: str, error_correction: int = ERROR_CORRECT_M) -> str:
    """The QR code as a 1-bit PNG, one pixel per module, for an <img> scaled with crisp edges.

    Cheaper for the renderer to draw than the SVG (one image instead of a path per run), so the
    small letter-id code repeated on every page uses it.
    """
    from PIL import Image

    matrix = qr_matrix(data, error_correction)
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
