"""Variable-data printing: a letter's shared pages are laid out once, each letter's own values stamped on.

Why: WeasyPrint lays a 4-page letter out in about 120 ms of CPU, ten times the whole budget of a
letter (issue 5: 10,000 letters in 60 s on 2 cores leaves 12 ms of CPU each). The letters of a
batch share nearly everything (the questionnaire, the firm, the dates); what differs is a handful
of short values: the name, the address, the letter id, the short code and link, the
questionnaire's placeholder values (the name again, the product, the risk levels), two QR codes.
So, as print shops do with mail merges:

1. **Template.** A letter is laid out once per group of letters that print the same text, with
   every personal value left as a slot (layout.letter_html with a TemplateSpec): hidden sample
   text that gives the slot its place, font size, weight, colour and baseline, or an empty box
   for a QR code. The slots are read from WeasyPrint's laid-out boxes. Placeholder values sit
   inside sentences, so their slots have a fixed width, and the letters are grouped by the
   widths of their values (Chinese text is whole em wide, so it fills its slot exactly).
2. **Glyph sheet.** The characters of the chunk's personal values are laid out once, in the
   regular and the bold face; the PDF holds them as subset fonts whose ToUnicode maps give each
   character's glyph code and whose widths give its advance.
3. **Stamp.** Each letter's pages are the template's pages (their fonts and images are stored
   once per file) plus a few text and image operators at the slots, written with pikepdf.

A letter whose values do not fit their slots (an address of more lines than the window holds, a
link or a placeholder value wider than its line) is laid out on its own, as before; so is any letter when the template
cannot be made. WeasyPrint stays the only layout engine: the stamp only places short single
lines of text and images where WeasyPrint's own layout put their samples.
"""
from __future__ import annotations

import functools
import io
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pikepdf
from markupsafe import escape
from pikepdf import Array, Dictionary, Name

from print_letters.glyphs import check_texts
from print_letters.layout import WORDS, LetterContent, TemplateSpec, letter_html, page_css
from print_letters.qr import qr_bitmap
from print_letters.render import layout

PX_TO_PT = 0.75  # WeasyPrint lays out in CSS px (1/96 in); PDF user space is in points (1/72 in)
ADDRESS_LINES = 5  # ghost lines in the template's window (letter.html); more lines print on their own
TEMPLATE_CACHE_SIZE = 128  # groups a process keeps laid out (each ~150 KB of PDF)


class DoesNotFit(ValueError):
    """A letter's value does not fit its slot: the letter is laid out on its own."""


@dataclass(frozen=True)
class TextSlot:
    """Where a single line of personal text goes: CSS px on its page, y down, at the baseline."""

    name: str
    page: int
    x: float
    baseline: float
    size: float
    bold: bool
    color: tuple[float, float, float]
    room: float  # px of line available from x


@dataclass(frozen=True)
class ImageSlot:
    """The box a QR code fills."""

    name: str
    page: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class WindowSlot:
    """The envelope window: address lines, then the recipient's name, clipped to the window."""

    page: int
    x: float
    width: float
    baselines: tuple[float, ...]
    size: float
    recipient_baseline: float  # after ADDRESS_LINES lines; moves up one step per missing line
    recipient_size: float
    recipient_bold: bool
    clip: tuple[float, float, float, float]


@dataclass
class Template:
    """A laid-out letter with its slots, and its PDF opened for copying pages."""

    pdf: pikepdf.Pdf
    texts: list[TextSlot] = field(default_factory=list)
    images: list[ImageSlot] = field(default_factory=list)
    window: Optional[WindowSlot] = None

    @property
    def pages(self) -> int:
        """The letter's page count."""
        return len(self.pdf.pages)


# --- Templates --------------------------------------------------------------------------------

def _walk(box, right: float, in_margin: bool = False):
    """Yield (box, right edge of the space its line may use) for the box and everything inside it.

    Inside a page-margin box (the running footer), boxes shrink to their sample text, so the right
    edge stays the page's: a value a little wider than the sample may use the margin.
    """
    yield box, right
    children = getattr(box, "children", None) or ()
    in_margin = in_margin or type(box).__name__ == "MarginBox"
    if children and not in_margin and hasattr(box, "content_box_x") and type(box).__name__ in (
            "BlockBox", "BlockContainerBox", "TableCellBox", "PageBox", "FlexBox", "InlineBlockBox",
            "FlexContainerBox"):
        right = box.content_box_x() + box.width
    for child in children:
        yield from _walk(child, right, in_margin)


def _first_text(box):
    for inner, _right in _walk(box, 0):
        if type(inner).__name__ == "TextBox":
            return inner
    raise DoesNotFit("a slot without its sample text")


def _classes(box) -> set[str]:
    element = getattr(box, "element", None)
    return set((element.get("class") or "").split()) if element is not None else set()


def _rgb(style) -> tuple[float, float, float]:
    color = style["color"]
    return tuple(round(float(v), 3) for v in tuple(color)[:3])


def _text_slot(name: str, page: int, box, right: float) -> TextSlot:
    text = _first_text(box)
    fixed = type(box).__name__ == "InlineBlockBox"
    x = box.content_box_x() if fixed else text.position_x
    if fixed and x + box.width > right + 1:
        raise DoesNotFit(f"the {name} slot is wider than its line")
    return TextSlot(name, page, x, text.position_y + text.baseline, text.style["font_size"],
                    text.style["font_weight"] >= 600, _rgb(text.style), box.width if fixed else right - x)


def _window_slot(page: int, window_box) -> WindowSlot:
    baselines, recipient, address = [], None, None
    for box, _right in _walk(window_box, 0):
        classes = _classes(box)
        if "address" in classes and address is None:
            address = box
        if type(box).__name__ == "TextBox" and box.element is not None:
            parent_classes = set((box.element.get("class") or "").split())
            if "recipient" in parent_classes:
                recipient = box
            elif "ghost" in parent_classes:
                baselines.append(box.position_y + box.baseline)
    if address is None or recipient is None or len(baselines) != ADDRESS_LINES:
        raise DoesNotFit("the template's window lacks its ghost lines")
    first = _first_text(address)
    return WindowSlot(
        page=page, x=address.content_box_x(), width=address.width, baselines=tuple(baselines),
        size=first.style["font_size"], recipient_baseline=recipient.position_y + recipient.baseline,
        recipient_size=recipient.style["font_size"], recipient_bold=recipient.style["font_weight"] >= 600,
        clip=(window_box.padding_box_x(), window_box.padding_box_y(),
              window_box.padding_width(), window_box.padding_height()))


def find_slots(document) -> tuple[list[TextSlot], list[ImageSlot], Optional[WindowSlot]]:
    """The slots of a laid-out template document, page by page.

    WeasyPrint has no public API for its box tree; `Page._page_box` is the tree its own drawing
    code walks (weasyprint==66.0 is pinned; tests/letters/test_stamp.py compares stamped pages with
    pages laid out one by one, so a change there fails the tests, not the letters).
    """
    texts, images, window = [], [], None
    for number, page in enumerate(document.pages):
        seen = set()
        for box, right in _walk(page._page_box, page._page_box.width):
            element = getattr(box, "element", None)
            if element is None:
                continue
            classes = _classes(box)
            if "window" in classes and window is None and box.element_tag == "div":
                window = _window_slot(number, box)
            name = element.get("data-slot")
            if not name or id(element) in seen:
                continue
            seen.add(id(element))  # an inline split over two lines is one slot, at its start
            if "slot-img" in classes:
                images.append(ImageSlot(name, number, box.content_box_x(), box.content_box_y(),
                                        box.width, box.height))
            elif "slot" in classes:
                texts.append(_text_slot(name, number, box, right))
    return texts, images, window


def build_template(content: LetterContent, spec: TemplateSpec) -> Template:
    """Lay the letter out once with slots for its personal values; find them; write the PDF."""
    document = layout(letter_html(content, spec), page_css(content.lang))
    texts, images, window = find_slots(document)
    pdf = pikepdf.open(io.BytesIO(document.write_pdf(uncompressed_pdf=False)))
    return Template(pdf, texts, images, window)


# --- Glyphs -----------------------------------------------------------------------------------

_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_HEX = re.compile(rb"<([0-9a-fA-F]+)>")


def _to_unicode(cmap: bytes) -> dict[str, bytes]:
    """{character: 2-byte glyph code} from a ToUnicode CMap (bfchar and bfrange entries)."""
    found = {}
    for block in _BFCHAR.findall(cmap):
        values = _HEX.findall(block)
        for code, text in zip(values[::2], values[1::2]):
            chars = bytes.fromhex(text.decode()).decode("utf-16-be")
            if len(chars) == 1:
                found.setdefault(chars, bytes.fromhex(code.decode()))
    for block in _BFRANGE.findall(cmap):
        values = _HEX.findall(block)
        for start, end, text in zip(values[::3], values[1::3], values[2::3]):
            first, last, char = int(start, 16), int(end, 16), int(text, 16)
            for offset in range(last - first + 1):
                found.setdefault(chr(char + offset), (first + offset).to_bytes(2, "big"))
    return found


def _widths(cid_font) -> tuple[dict[int, float], float]:
    """({glyph code: advance in em}, default advance) from a CIDFont's /W and /DW."""
    default = float(cid_font.get("/DW", 1000)) / 1000
    widths, items, i = {}, list(cid_font.get("/W", [])), 0
    while i < len(items):
        first = int(items[i])
        if isinstance(items[i + 1], pikepdf.Array):
            for offset, width in enumerate(items[i + 1]):
                widths[first + offset] = float(width) / 1000
            i += 2
        else:
            for code in range(first, int(items[i + 1]) + 1):
                widths[code] = float(items[i + 2]) / 1000
            i += 3
    return widths, default


@dataclass
class Face:
    """One face of the glyph sheet: its font object, codes and advances."""

    font: pikepdf.Object
    codes: dict[str, bytes]
    widths: dict[int, float]
    default_width: float
    space: float = 0.224  # Noto Sans CJK's space advance, used when the sheet has no space glyph

    def advance(self, char: str) -> float:
        """The advance of a character in em."""
        if char == " ":
            return self.space
        code = self.codes.get(char)
        if code is None:
            raise DoesNotFit(f"no glyph code for {char!r}")
        return self.widths.get(int.from_bytes(code, "big"), self.default_width)

    def measure(self, text: str) -> float:
        """The advance of a text in em."""
        return sum(self.advance(char) for char in text)


GLYPH_SHEET_CSS = ('@page { size: A4; margin: 10mm } html { font-family: "Noto Sans CJK SC"; font-size: 10pt; '
                   'font-variant-ligatures: none; font-kerning: none } p { margin: 0 }')


@dataclass
class GlyphSheet:
    """The faces of the chunk's characters; `pdf` is their source document, kept open for copying."""

    faces: dict[bool, Face]
    pdf: pikepdf.Pdf


def glyph_sheet(chars: str) -> GlyphSheet:
    """Lay the characters out once in the regular and the bold face."""
    spaced = " ".join(sorted(set(chars) - {" ", "\n"}))
    html = f'<p style="font-weight: 400">{escape(spaced)}</p><p style="font-weight: 700">{escape(spaced)}</p>'
    pdf = pikepdf.open(io.BytesIO(layout(html, GLYPH_SHEET_CSS).write_pdf()))
    faces: dict[bool, Face] = {}
    for page in pdf.pages:
        for font in page.Resources.Font.values():
            bold = "Bold" in str(font.BaseFont)
            widths, default = _widths(font.DescendantFonts[0])
            face = faces.setdefault(bold, Face(font, {}, {}, default))
            face.codes.update(_to_unicode(font.ToUnicode.read_bytes()))
            face.widths.update(widths)
    if not faces:
        raise DoesNotFit("the glyph sheet holds no font")
    faces.setdefault(True, faces.get(False))
    faces.setdefault(False, faces.get(True))
    return GlyphSheet(faces, pdf)


# --- Stamping ---------------------------------------------------------------------------------

def _text_op(face: Face, font_name: str, text: str, x: float, baseline: float, size: float,
             color: tuple[float, float, float]) -> str:
    parts, run = [], []
    for char in text:
        if char == " " and " " not in face.codes:
            if run:
                parts.append("<" + b"".join(run).hex() + ">")
                run = []
            parts.append(f"{-face.space * 1000:.0f}")
            continue
        code = face.codes.get(char)
        if code is None:
            raise DoesNotFit(f"no glyph code for {char!r}")
        run.append(code)
    if run:
        parts.append("<" + b"".join(run).hex() + ">")
    r, g, b = color
    return (f"{r:g} {g:g} {b:g} rg BT /{font_name} {size:.4f} Tf 1 0 0 -1 {x:.3f} {baseline:.3f} Tm "
            f"[{' '.join(parts)}] TJ ET\n")


def wrap(face: Face, text: str, width_em: float) -> list[str]:
    """Greedy line breaks: between any two CJK characters, at spaces between Latin words."""
    lines, line, line_width = [], "", 0.0
    for token in re.findall(r"[A-Za-z0-9@._\-/#,()]+ ?|.", text):
        token_width = face.measure(token.rstrip())
        if line and line_width + token_width > width_em:
            lines.append(line.rstrip())
            line, line_width = "", 0.0
        if token_width > width_em:  # a word longer than the line: break anywhere
            for char in token:
                if line and line_width + face.advance(char) > width_em:
                    lines.append(line.rstrip())
                    line, line_width = "", 0.0
                line += char
                line_width += face.advance(char)
            continue
        line += token
        line_width += face.measure(token)
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _qr_image(pdf: pikepdf.Pdf, data: str) -> pikepdf.Object:
    """A QR code as a 1-bit image XObject, one sample per module (printed with crisp edges)."""
    image = qr_bitmap(data)  # PIL packs mode "1" rows MSB first, padded to bytes, as PDF does
    return pdf.make_stream(image.tobytes(), Type=Name.XObject, Subtype=Name.Image, Width=image.width,
                           Height=image.height, ColorSpace=Name.DeviceGray, BitsPerComponent=1, Interpolate=False)


def _samples(content: LetterContent) -> dict[str, str]:
    return {"letter_id": content.letter_id, "short_code": content.short_code, "short_url": content.short_url}


def _values(content: LetterContent) -> dict[str, str]:
    """Every text slot's value: the cover's and footers' values, and the placeholders' (ph:name)."""
    return {**_samples(content), **{f"ph:{name}": value for name, value in content.values}}


def _recipient_line(content: LetterContent) -> str:
    to = WORDS.get(content.lang, WORDS["zh-CN"])["to"]
    return f"{content.recipient_name} {to}" if to else content.recipient_name


def overlays(template: Template, content: LetterContent, faces: dict[bool, Face]) -> list[str]:
    """The operators each page of the letter adds to its template page (CSS px, y down).

    Raises DoesNotFit when a value is wider than its slot or the address longer than the window.
    """
    values = _values(content)
    ops = ["" for _ in range(template.pages)]
    for slot in template.texts:
        face = faces[slot.bold]
        text = values[slot.name]
        if face.measure(text) * slot.size > slot.room + 0.5:
            raise DoesNotFit(f"{slot.name} is wider than its place")
        ops[slot.page] += _text_op(face, "HF" + "RB"[slot.bold], text, slot.x, slot.baseline, slot.size, slot.color)
    window = template.window
    if window is not None:
        face = faces[False]
        lines = [part for line in content.postal_address.splitlines() if line.strip()
                 for part in wrap(face, line.strip(), window.width / window.size)]
        if len(lines) > ADDRESS_LINES:
            raise DoesNotFit("the address has more lines than the window holds")
        x, y, w, h = window.clip
        text = f"q {x:.3f} {y:.3f} {w:.3f} {h:.3f} re W n\n"
        for line, baseline in zip(lines, window.baselines):
            text += _text_op(face, "HFR", line, window.x, baseline, window.size, (0, 0, 0))
        step = window.baselines[1] - window.baselines[0]
        recipient_baseline = window.recipient_baseline - (ADDRESS_LINES - len(lines)) * step
        text += _text_op(faces[window.recipient_bold], "HF" + "RB"[window.recipient_bold], _recipient_line(content),
                         window.x, recipient_baseline, window.recipient_size, (0, 0, 0))
        ops[window.page] += text + "Q\n"
    for slot in template.images:
        ops[slot.page] += (f"q {slot.width:.3f} 0 0 {-slot.height:.3f} {slot.x:.3f} {slot.y + slot.height:.3f} cm "
                           f"/HF{slot.name} Do Q\n")
    return ops


def personal_chars(contents: Sequence[LetterContent]) -> str:
    """Every character the stamp will write for these letters."""
    chars = set()
    for content in contents:
        for value in (*_values(content).values(), content.postal_address, _recipient_line(content)):
            chars.update(value)
    return "".join(sorted(chars))


class Stamper:
    """Builds one chunk PDF: template pages plus each letter's stamp, or a letter laid out on its own."""

    def __init__(self, chars: str):
        self.pdf = pikepdf.new()
        self.sheet = glyph_sheet(chars)
        self.faces = self.sheet.faces
        self.fonts = {"HFR": self.pdf.copy_foreign(self.faces[False].font),
                      "HFB": self.pdf.copy_foreign(self.faces[True].font)}
        self.open_q = self.pdf.make_stream(b"q\n")

    def add_stamped(self, template: Template, content: LetterContent) -> int:
        """Append the letter as template pages plus its stamp; its page count. Raises DoesNotFit."""
        page_ops = overlays(template, content, self.faces)
        images = {}
        if content.with_qr:
            images = {"qr": _qr_image(self.pdf, content.invitation_url), "idqr": _qr_image(self.pdf, content.letter_id)}
        for number, ops in enumerate(page_ops):
            self.pdf.pages.append(template.pdf.pages[number])
            page = self.pdf.pages[-1].obj
            height = float(page.MediaBox[3])
            page.Resources = self._resources(page.Resources, template, number, images)
            stamp = (f"Q\nq 1 0 0 -1 0 {height:.6f} cm {PX_TO_PT} 0 0 {PX_TO_PT} 0 0 cm\n{ops}Q\n").encode()
            original = list(page.Contents) if isinstance(page.Contents, Array) else [page.Contents]
            page.Contents = Array([self.open_q, *original, self.pdf.make_stream(stamp)])
        return template.pages

    def _resources(self, resources, template: Template, number: int, images: dict) -> Dictionary:
        fresh = Dictionary({key: value for key, value in resources.items()})
        fonts = Dictionary({key: value for key, value in resources.get("/Font", Dictionary()).items()})
        fonts.HFR, fonts.HFB = self.fonts["HFR"], self.fonts["HFB"]
        fresh.Font = fonts
        wanted = {slot.name for slot in template.images if slot.page == number and slot.name in images}
        if wanted:
            xobjects = Dictionary({key: value for key, value in resources.get("/XObject", Dictionary()).items()})
            for name in wanted:
                xobjects[f"/HF{name}"] = images[name]
            fresh.XObject = xobjects
        return fresh

    def add_document(self, pdf_bytes: bytes) -> int:
        """Append a letter laid out on its own; its page count."""
        other = pikepdf.open(io.BytesIO(pdf_bytes))
        self.pdf.pages.extend(other.pages)
        return len(other.pages)

    def save(self, path: str, title: str) -> None:
        """Write the chunk PDF."""
        self.pdf.docinfo["/Title"] = title
        self.pdf.save(path, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)


# --- Groups -----------------------------------------------------------------------------------

def slot_em(face: Face, value: str) -> float:
    """A value's slot width in em, rounded up to 1/64 em.

    Chinese text is whole em wide and fills its slot exactly; other text leaves at most 1/64 em
    (0.2 px at 10 pt), so lines break where they would have. Values of the same width share a
    template: the digits are tabular, so C1–C5 or R1–R5 are one width.
    """
    return -(-face.measure(value) * 64 // 1) / 64


def slot_widths(faces: dict[bool, Face], content: LetterContent) -> tuple:
    """The (regular, bold) slot widths of each placeholder value of the letter (part of its group key)."""
    return tuple((name, (slot_em(faces[False], value), slot_em(faces[True], value))) for name, value in content.values)


def group_key(content: LetterContent, questionnaire_key: str, widths: tuple) -> tuple:
    """What the letters of one template share: everything printed but the values, and their widths."""
    return (content.lang, content.purpose, content.deadline, content.issued_on, questionnaire_key,
            content.privacy_notice, content.firm, content.return_address, content.envelope, content.with_qr,
            widths)


class TemplateCache:
    """The templates a process has laid out, least recently used dropped first."""

    def __init__(self, size: int = TEMPLATE_CACHE_SIZE):
        self.size, self.items = size, OrderedDict()

    def get(self, key: tuple, content: LetterContent, widths: tuple) -> Template:
        """The template for the key, laid out from this letter if it is new; DoesNotFit if it cannot be."""
        if key in self.items:
            self.items.move_to_end(key)
            if self.items[key] is None:
                raise DoesNotFit("the group's template could not be laid out")
            return self.items[key]
        try:
            template = build_template(content, TemplateSpec(widths, tuple(_samples(content).items())))
        except DoesNotFit:
            template = None
        self.items[key] = template
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        if template is None:
            raise DoesNotFit("the group's template could not be laid out")
        return template


@functools.lru_cache(maxsize=1)
def template_cache() -> TemplateCache:
    """The process's template cache (each worker process has its own)."""
    return TemplateCache()


def questionnaire_keys(contents: Sequence[LetterContent]) -> dict[int, str]:
    """A content key per distinct questionnaire object (letters of a batch share one)."""
    keys = {}
    for content in contents:
        if id(content.questionnaire) not in keys:
            keys[id(content.questionnaire)] = json.dumps(content.questionnaire, sort_keys=True, default=str)
    return keys


def check_personal(content: LetterContent) -> None:
    """The glyph check of a letter's own values (the template's texts were checked when laid out)."""
    check_texts([("recipient_name", content.recipient_name), ("postal_address", content.postal_address),
                 ("letter_id", content.letter_id), ("short_url", content.short_url),
                 *((f"personal.{name}", value) for name, value in content.personal)])


__all__ = ["DoesNotFit", "Stamper", "Template", "build_template", "check_personal", "glyph_sheet", "group_key",
           "overlays", "personal_chars", "questionnaire_keys", "slot_widths", "template_cache", "wrap"]
