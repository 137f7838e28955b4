"""A letter as HTML: the cover page for a window envelope, then the questionnaire as a paper form.

Everything here is plain data in, HTML text out; no database, no Flask. The caller gives a
LetterContent with the questionnaire already localized, a mark in place of each placeholder
value (mark()), and the values in `personal`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Optional

import jinja2
from markupsafe import Markup, escape

from print_letters.envelopes import DEFAULT_ENVELOPES, EnvelopeWindow
from print_letters.glyphs import MissingGlyph, check_texts
from print_letters.instructions import condition_text, jump_targets, question_numbers
from print_letters.qr import qr_png_data_uri

TEMPLATES = Path(__file__).with_name("templates")
# Page margins (mm) shared by the CSS and the window placement.
MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_LEFT = 16, 18, 24, 20


@dataclass(frozen=True)
class Firm:
    """The sender as printed in the letterhead and on the return line."""

    name: str
    name_en: str
    service_phone: str
    address: str = ""
    department: str = ""
    website: str = ""


@dataclass(frozen=True)
class LetterContent:
    """What one letter says; `questionnaire` is a localized definition (texts are strings)."""

    letter_id: str
    lang: str  # "zh-CN" or "en"
    recipient_name: str
    postal_address: str
    purpose: str
    deadline: date
    issued_on: date
    invitation_url: str
    short_url: str
    short_code: str
    questionnaire: dict
    privacy_notice: str
    firm: Firm
    return_address: str = ""
    envelope: EnvelopeWindow = field(default_factory=lambda: DEFAULT_ENVELOPES["dl"])
    with_qr: bool = True  # False only to measure the engine's own cost (benchmarks)
    # The placeholder values, in the order of their marks in `questionnaire` (client_name first).
    personal: tuple[tuple[str, str], ...] = ()

    @property
    def values(self) -> tuple[tuple[str, str], ...]:
        """The placeholder values; without any, the name alone (the greeting's placeholder)."""
        return self.personal or (("client_name", self.recipient_name),)


# Placeholder values are put in at printing, not when the questionnaire is localized: the letters
# of a batch then share one localized questionnaire, in which each placeholder is a mark (a
# private-use character); LetterContent.personal holds the values in mark order, the client's name
# first. letter_html writes the values in, or leaves slots for the stamp (print_letters/stamp.py).
MARK_BASE = 0xE000
_MARKS = re.compile("[\ue000-\ue0ff]")


def mark(index: int) -> str:
    """The mark of the index-th personal value."""
    return chr(MARK_BASE + index)


NAME_MARK = mark(0)  # the client's name is always the first personal value


@dataclass(frozen=True)
class TemplateSpec:
    """Lay a letter out as a template: personal values become empty slots of a fixed size.

    widths: the width of each placeholder's slots, (regular, bold) in em of the text around
    them (a group's values fit). samples: a representative value per text slot of the cover and
    the footers (letter_id, short_code, short_url), laid out hidden so that the slot has a
    position, a font and a baseline.
    """

    widths: tuple[tuple[str, tuple[float, float]], ...]
    samples: tuple[tuple[str, str], ...]


def _slot_markup(name: str, sample: str, style: str = "") -> Markup:
    return Markup('<span class="slot" data-slot="{}"{}><span class="ghost">{}</span></span>').format(
        name, Markup(f' style="{style}"') if style else "", sample)


def _personal(template: Optional[TemplateSpec], content: "LetterContent"):
    """The `personal` filter: a questionnaire text with its values written in, or slots for them."""
    values = content.values
    widths = dict(template.widths) if template else {}

    def value(found) -> Markup:
        key, text = values[ord(found.group()) - MARK_BASE]
        if template:
            regular, bold = widths[key]  # letter.css gives slots in bold text the bold width
            return _slot_markup(f"ph:{key}", "国", f"width: {regular:.4f}em; --bold-width: {bold:.4f}em")
        return escape(text)

    def personal(text) -> Markup:
        if not text:
            return Markup("")
        text, parts, last = str(text), [], 0
        for found in _MARKS.finditer(text):
            parts += [escape(text[last:found.start()]), value(found)]
            last = found.end()
        parts.append(escape(text[last:]))
        return Markup("").join(parts)

    return personal


def _slot(template: Optional[TemplateSpec]):
    """The `slot` function: a personal value as text, or (template) a hidden sample holding its place."""
    samples = dict(template.samples) if template else {}

    def slot(name: str, value: str) -> Markup:
        return _slot_markup(name, samples[name]) if template else escape(value)

    return slot


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["personal"] = jinja2.pass_context(lambda context, text: context["personal"](text))
    return env


WORDS = {
    "zh-CN": {
        "letter_id": "信函编号", "date": "日期", "deadline": "请于此日期前答复", "to": "收",
        "dear": "尊敬的{name}：", "ways": "请选择以下任一方式作答（只需一种）：",
        "way_qr": "用手机扫描右侧二维码，在线填写问卷；", "way_url": "或在浏览器中输入网址：",
        "short_code": "问卷短码", "way_paper": "或填写随附的纸质问卷，签名后用回邮信封寄回：",
        "one_answer": "在线作答与纸质问卷只需选择一种；我们以先收到的答复为准，另一份将不再计入。",
        "privacy": "个人信息保护说明", "questions_call": "如有疑问，请致电客户服务热线 {phone}。",
        "regards": "此致\n敬礼", "form_title_suffix": "（纸质问卷）",
        "how_to": "填写说明：请用黑色或蓝色笔在所选选项的方框内打“√”；有文字横线的，请在横线上填写。"
                  "带有“仅当……时回答”的题目，仅在满足条件时作答；选项后注明“请跳至”的，请按提示跳过其间的题目。",
        "choose_many": "可多选", "agree": "我已阅读并同意", "number_hint": "请填写数字",
        "year": "年", "month": "月", "day": "日", "sign": "客户签名", "sign_date": "签署日期",
        "return_to": "请将本问卷寄回：", "scan_code": "扫码作答", "page": "第 {n} 页", "of": "共 {m} 页",
    },
    "en": {
        "letter_id": "Letter ID", "date": "Date", "deadline": "Please answer by", "to": "",
        "dear": "Dear {name},", "ways": "Please answer in ONE of these ways:",
        "way_qr": "Scan the QR code on the right with your phone and answer online;",
        "way_url": "or type this address into a web browser:", "short_code": "Short code",
        "way_paper": "or fill in the paper questionnaire enclosed, sign it and post it back to:",
        "one_answer": "Please answer only once, online or on paper. The first answer we receive counts; a second one is not counted.",
        "privacy": "How we handle your personal information", "questions_call": "Questions? Call us at {phone}.",
        "regards": "Yours sincerely,", "form_title_suffix": " (paper form)",
        "how_to": "How to fill in: tick (√) the box of your answer with a black or blue pen; write on the lines. "
                  "Answer a question marked “Answer only if …” only when that is so; where an option says “go to”, "
                  "skip the questions in between.",
        "choose_many": "choose all that apply", "agree": "I have read this and agree", "number_hint": "a number",
        "year": "year", "month": "month", "day": "day", "sign": "Signature", "sign_date": "Date",
        "return_to": "Please post this questionnaire back to:", "scan_code": "Scan to answer",
        "page": "Page {n}", "of": "of {m}",
    },
}


def _form_items(questionnaire: dict, lang: str) -> list[dict]:
    questions = questionnaire["questions"]
    numbers = question_numbers(questions)
    items = []
    for question in questions:
        items.append({
            "q": question,
            "number": numbers.get(question["id"]),
            "condition": condition_text(question, questions, lang),
            "jumps": jump_targets(question, questions, lang),
        })
    return items


def _text_fields(content: LetterContent) -> list[tuple[str, str]]:
    """Every variable text of the letter with the field it comes from, for the glyph check.

    Marks are not characters to print: the values themselves are checked, as `personal`.
    """
    fields = [("recipient_name", content.recipient_name), ("postal_address", content.postal_address),
              ("purpose", content.purpose), ("privacy_notice", content.privacy_notice),
              ("return_address", content.return_address), ("firm.name", content.firm.name),
              ("firm.address", content.firm.address), ("firm.department", content.firm.department)]
    q = content.questionnaire
    fields += [(f"questionnaire.{key}", q.get(key) or "") for key in ("title", "intro", "closing")]
    for i, question in enumerate(q["questions"]):
        fields.append((f"questions[{i}].text", question["text"]))
        fields.append((f"questions[{i}].help", question.get("help") or ""))
        for j, option in enumerate(question.get("options") or []):
            fields.append((f"questions[{i}].options[{j}].label", option["label"]))
        for key in ("min_label", "max_label"):
            fields.append((f"questions[{i}].{key}", question.get(key) or ""))
    fields += [(f"personal.{key}", value) for key, value in content.personal]
    return [(name, _MARKS.sub("", text or "")) for name, text in fields]


def letter_html(content: LetterContent, template: Optional[TemplateSpec] = None) -> str:
    """The whole letter as one HTML document; raises MissingGlyph before anything is rendered.

    With a TemplateSpec, the personal values (name, address, letter id, short code and URL, QR
    codes) are left as slots, for print_letters.stamp.
    """
    check_texts(_text_fields(content))
    words = WORDS.get(content.lang, WORDS["zh-CN"])
    window = content.envelope
    draw_qr = content.with_qr and template is None
    html = _environment().get_template("letter.html").render(
        c=content, w=words, firm=content.firm, items=_form_items(content.questionnaire, content.lang),
        window=window, win_top=window.top_mm - MARGIN_TOP, win_left=window.left_mm - MARGIN_LEFT,
        body_top=window.top_mm + window.height_mm - MARGIN_TOP + 6,
        qr=qr_png_data_uri(content.invitation_url) if draw_qr else None,
        id_qr=qr_png_data_uri(content.letter_id) if draw_qr else None,
        address_lines=[line.strip() for line in content.postal_address.splitlines() if line.strip()],
        template=template, personal=_personal(template, content), slot=_slot(template),
        dear=words["dear"].split("{name}", 1), name_mark=NAME_MARK,
    )
    # The template's own words (and anything the checks above could miss) are checked too.
    check_texts([("letter", _MARKS.sub("", html))])
    return html


def page_css(lang: str) -> str:
    """The stylesheet for one language: the page frame and its "page n of m" footer."""
    words = WORDS.get(lang, WORDS["zh-CN"])
    before, after = words["page"].split("{n}")
    of_before, of_after = words["of"].split("{m}")
    counter = (f'"{before}" counter(page) "{after}  {of_before}" counter(pages) "{of_after}"')
    css = (TEMPLATES / "letter.css").read_text(encoding="utf-8")
    return (css.replace("/*PAGE_COUNTER*/", counter)
               .replace("/*MARGINS*/", f"{MARGIN_TOP}mm {MARGIN_RIGHT}mm {MARGIN_BOTTOM}mm {MARGIN_LEFT}mm"))


__all__ = ["Firm", "LetterContent", "MissingGlyph", "NAME_MARK", "TemplateSpec", "letter_html", "mark", "page_css"]
