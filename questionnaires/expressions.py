"""The `show_if` expression language: a tokenizer and a recursive-descent parser.

Grammar (docs/questionnaire-format.md):

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := ID ("==" | "!=") literal | ID ["not"] "in" "[" literal ("," literal)* "]"
    literal    := "string" | 'string' | number | true | false

Why not `eval` or the `ast` module: definitions come from staff uploads and the JSON API, so
an expression must not be able to reach attributes, calls or names outside the answers.
Python's grammar would have to be walked and whitelisted node by node; this grammar is small
enough that a parser which only knows comparisons, `and`, `or` and `not` is shorter and cannot
be tricked into anything else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Deep nesting would otherwise end in RecursionError; no real condition comes near this.
MAX_DEPTH = 50

_KEYWORDS = {"and", "or", "not", "in", "true", "false"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op>==|!=|[()\[\],])
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?![A-Za-z0-9_]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\\n]|\\["\\])*"|'(?:[^'\\\n]|\\['\\])*')
    """,
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """A malformed expression; `position` is the 0-based index into the source."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class _Token:
    kind: str  # "op", "number", "word", "keyword", "string", "end"
    text: str
    position: int
    value: object = None


def _tokenize(source: str) -> list[_Token]:
    """Split `source` into tokens, ending with an "end" token."""
    tokens, position = [], 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise ExpressionError(f"unexpected character {source[position]!r}", position)
        if match.lastgroup != "space":
            tokens.append(_make_token(match.lastgroup, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _make_token(kind: str, text: str, position: int) -> _Token:
    if kind == "number":
        value = float(text) if "." in text else int(text)
        return _Token(kind, text, position, value)
    if kind == "string":
        return _Token(kind, text, position, re.sub(r"\\(.)", r"\1", text[1:-1]))
    if kind == "word" and text in _KEYWORDS:
        return _Token("keyword", text, position, {"true": True, "false": False}.get(text))
    return _Token(kind, text, position)


def _same(answer: object, literal: object) -> bool:
    # true == 1 in Python; a consent answer must not equal the number 1.
    if isinstance(answer, bool) != isinstance(literal, bool):
        return False
    return answer == literal


def _chosen(answer: object) -> list:
    """The answer as a list of values: a multiple-choice list, [value], or [] when unanswered."""
    if answer is None:
        return []
    return list(answer) if isinstance(answer, (list, tuple, set, frozenset)) else [answer]


@dataclass(frozen=True)
class _Or:
    parts: tuple

    def evaluate(self, answers):
        return any(part.evaluate(answers) for part in self.parts)


@dataclass(frozen=True)
class _And:
    parts: tuple

    def evaluate(self, answers):
        return all(part.evaluate(answers) for part in self.parts)


@dataclass(frozen=True)
class _Not:
    part: object

    @property
    def parts(self):
        return (self.part,)

    def evaluate(self, answers):
        return not self.part.evaluate(answers)


@dataclass(frozen=True)
class _Membership:
    """`id == v`, `id != v`, `id in [..]`, `id not in [..]`; `==` is `in` with one literal."""

    question_id: str
    literals: tuple
    negated: bool
    parts = ()

    def evaluate(self, answers):
        chosen = _chosen(answers.get(self.question_id))
        found = any(_same(value, literal) for value in chosen for literal in self.literals)
        return found != self.negated


@dataclass(frozen=True)
class Expression:
    """A parsed `show_if` expression; immutable, so parses can be cached and shared."""

    source: str
    _root: object = field(repr=False)

    def evaluate(self, answers: Mapping[str, object]) -> bool:
        """Whether the condition holds; a missing or None answer counts as unanswered."""
        return bool(self._root.evaluate(answers))

    def referenced_ids(self) -> set[str]:
        """The question ids the expression reads."""
        return set(self.literals_by_id())

    def literals_by_id(self) -> dict[str, set]:
        """For each referenced id, the literals it is compared with."""
        found: dict[str, set] = {}
        for comparison in _comparisons(self._root):
            found.setdefault(comparison.question_id, set()).update(comparison.literals)
        return found


def _comparisons(node):
    if isinstance(node, _Membership):
        yield node
    for part in node.parts:
        yield from _comparisons(part)


class _Parser:
    def __init__(self, source: str):
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.current.kind in ("op", "keyword") and self.current.text == text:
            self.index += 1
            return True
        return False

    def expect(self, text: str, what: str) -> None:
        if not self.accept(text):
            self.fail(f"expected {what}")

    def fail(self, message: str):
        token = self.current
        found = "end of expression" if token.kind == "end" else repr(token.text)
        raise ExpressionError(f"{message}, found {found}", token.position)

    def parse(self):
        root = self.or_expr()
        if self.current.kind != "end":
            self.fail("expected 'and', 'or' or the end")
        return root

    def or_expr(self):
        parts = [self.and_expr()]
        while self.accept("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _Or(tuple(parts))

    def and_expr(self):
        parts = [self.not_expr()]
        while self.accept("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else _And(tuple(parts))

    def not_expr(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("expression nested too deeply")
        if self.accept("not"):
            node = _Not(self.not_expr())
        elif self.accept("("):
            node = self.or_expr()
            self.expect(")", "')'")
        else:
            node = self.comparison()
        self.depth -= 1
        return node

    def comparison(self):
        if self.current.kind != "word":
            self.fail("expected a question id")
        question_id = self.take().text
        if self.accept("=="):
            return _Membership(question_id, (self.literal(),), negated=False)
        if self.accept("!="):
            return _Membership(question_id, (self.literal(),), negated=True)
        negated = self.accept("not")
        self.expect("in", "'in'" if negated else "'==', '!=', 'in' or 'not in'")
        return _Membership(question_id, self.literal_list(), negated)

    def literal_list(self) -> tuple:
        self.expect("[", "'['")
        literals = [self.literal()]
        while self.accept(","):
            literals.append(self.literal())
        self.expect("]", "',' or ']'")
        return tuple(literals)

    def literal(self):
        token = self.current
        if token.kind in ("string", "number") or token.text in ("true", "false"):
            return self.take().value
        self.fail("expected a string, a number, true or false")


@functools.lru_cache(maxsize=1024)
def parse(source: str) -> Expression:
    """Parse a `show_if` expression; raise ExpressionError with the position of the problem."""
    if not isinstance(source, str):
        raise ExpressionError("expression must be a string", 0)
    return Expression(source, _Parser(source).parse())
