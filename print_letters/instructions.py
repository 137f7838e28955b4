"""`show_if` conditions written as instructions a person can follow on paper.

On screen a hidden question simply is not there; on paper every question is printed, so each
conditional question carries its condition in words ("Answer only if you answered “No” to
question 3.") and options that skip questions say where to go ("→ go to question 5").
Works on a localized definition (texts already strings in one language).
"""
from __future__ import annotations

from questionnaires import expressions
from questionnaires.expressions import parse

WORDS = {
    "zh-CN": {
        "chose": "第{n}题选择“{values}”", "not_chose": "第{n}题没有选择“{values}”",
        "or_values": "”或“", "and": "，并且", "or": "；或者", "not": "并非（{x}）",
        "answer_if": "（仅当{cond}时回答本题）", "read_if": "（仅当{cond}时阅读本段）",
        "go_to": "→ 请跳至第{n}题", "go_to_end": "→ 请跳至问卷末尾签名处",
        "yes": "是", "no": "否", "agreed": "已勾选同意", "answered": "作答",
    },
    "en": {
        "chose": "you answered “{values}” to question {n}", "not_chose": "you did not answer “{values}” to question {n}",
        "or_values": "” or “", "and": ", and ", "or": "; or ", "not": "not ({x})",
        "answer_if": "(Answer only if {cond}.)", "read_if": "(Read only if {cond}.)",
        "go_to": "→ go to question {n}", "go_to_end": "→ go to the end and sign",
        "yes": "Yes", "no": "No", "agreed": "ticked “I agree”", "answered": "answered",
    },
}


def question_numbers(questions: list[dict]) -> dict[str, int]:
    """Printed numbers: answerable questions are numbered 1, 2, …; notices are not."""
    numbers, n = {}, 0
    for question in questions:
        if question["type"] != "notice":
            n += 1
            numbers[question["id"]] = n
    return numbers


def _label(question: dict, literal: object, words: dict) -> str:
    for option in question.get("options") or []:
        if option["value"] == literal:
            return option["label"]
    if question["type"] == "yes_no":
        return words.get(str(literal), str(literal))
    if literal is True:
        return words["agreed"]
    return str(literal)


def _describe(node, by_id: dict, numbers: dict, words: dict) -> str:
    # The parsed tree of questionnaires.expressions: _Or/_And hold parts, _Not one part,
    # _Membership a question id, its literals and whether it is negated.
    if isinstance(node, expressions._Membership):
        question = by_id[node.question_id]
        values = words["or_values"].join(_label(question, lit, words) for lit in node.literals)
        return words["not_chose" if node.negated else "chose"].format(n=numbers.get(node.question_id, "?"), values=values)
    if isinstance(node, expressions._Not):
        return words["not"].format(x=_describe(node.part, by_id, numbers, words))
    joiner = words["and"] if isinstance(node, expressions._And) else words["or"]
    return joiner.join(_describe(part, by_id, numbers, words) for part in node.parts)


def condition_text(question: dict, questions: list[dict], lang: str) -> str | None:
    """The printed condition of a question with show_if, e.g. "（仅当第1题选择“是”时回答本题）"."""
    source = question.get("show_if")
    if not source:
        return None
    words = WORDS.get(lang, WORDS["zh-CN"])
    by_id = {q["id"]: q for q in questions}
    cond = _describe(parse(source)._root, by_id, question_numbers(questions), words)
    return words["read_if" if question["type"] == "notice" else "answer_if"].format(cond=cond)


def jump_targets(question: dict, questions: list[dict], lang: str) -> dict[str, str]:
    """For each option of a choice question that skips questions, where to go: {value: "→ go to question 5"}.

    A later question is skipped when its condition is false given this answer, reading the questions
    this answer hides as unanswered (as the online form does). A condition that reads another answer
    still to be given stops the search: its own printed condition then guides the client.
    """
    if question["type"] not in ("yes_no", "single_choice"):
        return {}
    words = WORDS.get(lang, WORDS["zh-CN"])
    numbers = question_numbers(questions)
    index = next(i for i, q in enumerate(questions) if q["id"] == question["id"])
    later = questions[index + 1:]
    next_numbered = next((q for q in later if q["type"] != "notice"), None)
    targets = {}
    for option in question.get("options") or []:
        answers = {question["id"]: option["value"]}
        target, hidden = "end", set()
        for candidate in later:
            source = candidate.get("show_if")
            if source and source == question.get("show_if"):
                source = None  # the same condition that shows this question: it holds here too
            if source:
                # Another answer the client has still to give decides: no jump is printed.
                if parse(source).referenced_ids() - {question["id"]} - hidden:
                    target = None
                    break
                if not parse(source).evaluate(answers):  # hidden questions read as unanswered
                    hidden.add(candidate["id"])
                    continue
            if candidate["type"] != "notice":
                target = candidate["id"]
                break
        if target is None or (next_numbered is not None and target == next_numbered["id"]):
            continue
        if target == "end" and next_numbered is None:
            continue
        targets[option["value"]] = (words["go_to_end"] if target == "end"
                                    else words["go_to"].format(n=numbers[target]))
    return targets
