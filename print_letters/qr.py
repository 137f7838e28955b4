"""QR codes for letters: a 1-bit bitmap, one pixel per module, printed scaled with crisp edges."""
from __future__ import annotations

import base64
import io

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

# Letters use one fixed mask pattern. The encoder's search for the best of the eight (a penalty
# score per mask, ISO/IEC 18004 7.8.3) took 9 ms of the 11 ms of stamping a letter; a decoder
# reads any mask (it is written in the format information), and the tests decode every code
# printed. Pattern 0, the checkerboard, breaks up long runs and blocks on its own.
LETTER_MASK = 0


def qr_matrix(data: str, error_correction: int = ERROR_CORRECT_M,
              mask_pattern: int | None = LETTER_MASK) -> list[list[bool]]:
    """The module matrix of a QR code for data, with the standard 4-module quiet zone.

    mask_pattern None searches for the best mask (as encoders do by default); 0-7 fixes it.
    """
    code = qrcode.QRCode(error_correction=error_correction, border=4, mask_pattern=mask_pattern)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_bitmap(data: str) -> Image.Image:
    """The QR code as a 1-bit image, one pixel per module (0 dark, 1 light)."""
    matrix = qr_matrix(data)
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    return image


def qr_png_data_uri(data: str) -> str:
    """The QR code as a 1-bit PNG data: URI for an <img> (one image is cheaper to draw than paths)."""
    buffer = io.BytesIO()
    qr_bitmap(data).save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
