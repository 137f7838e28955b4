"""The archival copy of an answered questionnaire (PDF/A-3): every question shown to the client,
the answer given, the facts of the response and the content hash of the attached answers."""
from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from print_letters.glyphs import check_texts
from questionnaires.answers import visible_questions

TEMPLATES = Path(__file__).with_name("templates")


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("archival.html")


def answer_text(question: dict, answer: object) -> str:
    """An answer as words: option labels, "已同意" for a consent, the text or number as given."""
    if answer is None:
        return "（未作答）"
    labels = {o["value"]: o["label"] for o in question.get("options") or []}
    if question["type"] == "yes_no" and not labels:
        labels = {"yes": "是", "no": "否"}
    if isinstance(answer, list):
        return "；".join(labels.get(v, str(v)) for v in answer)
    if question["type"] == "consent":
        return "已阅读并同意" if answer is True else "（未同意）"
    return labels.get(answer, str(answer)) if isinstance(answer, str) else str(answer)


def archival_html(*, questionnaire: dict, answers: dict, firm: str, facts: list[tuple[str, str]], digest: str) -> str:
    """The HTML of the archival copy (questionnaire localized; answers as stored)."""
    rows = []
    n = 0
    for question in visible_questions(questionnaire, answers):
        if question["type"] == "notice":
            continue
        n += 1
        rows.append((n, question["text"], answer_text(question, answers.get(question["id"]))))
    check_texts([("facts", " ".join(f"{k}{v}" for k, v in facts)), ("title", questionnaire["title"])]
                + [(f"question {n}", f"{text}{answer}") for n, text, answer in rows])
    return _template().render(title=questionnaire["title"], firm=firm, facts=facts, rows=rows, digest=digest)


def archival_css() -> str:
    """The archival copy's stylesheet."""
    return (TEMPLATES / "archival.css").read_text(encoding="utf-8")
