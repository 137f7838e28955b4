"""questionnaires.expressions: the show_if language."""

from __future__ import annotations

import dataclasses

import pytest

from questionnaires.expressions import ExpressionError, parse

ANSWERS = {
    "operator": "self",
    "products": ["fund", "stock"],
    "age": 30,
    "agreed": True,
    "empty_choice": [],
}


@pytest.mark.parametrize("source, expected", [
    ('operator == "self"', True),
    ("operator == 'self'", True),
    ('operator != "self"', False),
    ('operator in ["staff", "self"]', True),
    ('operator not in ["staff", "self"]', False),
    ('operator not in ["staff"]', True),
    ("age == 30", True),
    ("age == 30.0", True),
    ("age in [1, 2]", False),
    ("agreed == true", True),
    ("agreed == 1", False),
    ("age == true", False),
])
def test_compares_single_answers(source, expected):
    assert parse(source).evaluate(ANSWERS) is expected


@pytest.mark.parametrize("source, expected", [
    ('products == "fund"', True),
    ('products == "option"', False),
    ('products != "fund"', False),
    ('products in ["option", "stock"]', True),
    ('products in ["option", "bond"]', False),
    ('products not in ["option", "bond"]', True),
])
def test_multiple_choice_answers_match_any_chosen_value(source, expected):
    assert parse(source).evaluate(ANSWERS) is expected


@pytest.mark.parametrize("source, expected", [
    ('missing == "x"', False),
    ('missing != "x"', True),
    ('missing in ["x"]', False),
    ('missing not in ["x"]', True),
    ('empty_choice == "x"', False),
    ('empty_choice != "x"', True),
])
def test_unanswered_questions_equal_nothing(source, expected):
    assert parse(source).evaluate(ANSWERS) is expected


def test_none_counts_as_unanswered():
    assert parse('operator != "self"').evaluate({"operator": None}) is True


@pytest.mark.parametrize("source, expected", [
    # and binds tighter than or: true or (false and false)
    ('operator == "self" or age == 1 and agreed == false', True),
    # parentheses override: (true or false) and false
    ('(operator == "self" or age == 1) and agreed == false', False),
    ('not operator == "self"', False),
    ('not not operator == "self"', True),
    # not binds tighter than and: (not false) and false, where not (false and false) would hold
    ('not age == 1 and agreed == false', False),
    ('not (age == 30 and agreed == true)', False),
    ('operator == "self" and not (products in ["fund", "option"])', False),
])
def test_precedence_and_not(source, expected):
    assert parse(source).evaluate(ANSWERS) is expected


@pytest.mark.parametrize("source", ['a=="x"and b=="y"', '  a == "x"  and\n b == "y" '])
def test_whitespace_is_optional_between_tokens(source):
    assert parse(source).evaluate({"a": "x", "b": "y"}) is True


def test_strings_may_hold_escaped_quotes_and_keywords():
    assert parse(r'a == "say \"and\" or not"').evaluate({"a": 'say "and" or not'}) is True


def test_negative_and_decimal_numbers():
    assert parse("a in [-1, 2.5]").evaluate({"a": 2.5}) is True


def test_referenced_ids():
    assert parse('a == "x" or (b in ["y"] and not c != 1)').referenced_ids() == {"a", "b", "c"}


def test_literals_by_id():
    expression = parse('a == "x" or a in ["y", "z"] or b != 1')
    assert expression.literals_by_id() == {"a": {"x", "y", "z"}, "b": {1}}


@pytest.mark.parametrize("source, position, message", [
    ('__import__("os")', 10, "expected '==', '!=', 'in' or 'not in', found '('"),
    ("a.b", 1, "unexpected character '.'"),
    ('a.__class__ == "x"', 1, "unexpected character '.'"),
    ('open("f") == "x"', 4, "expected '==', '!=', 'in' or 'not in', found '('"),
    ("a == b", 5, "expected a string, a number, true or false, found 'b'"),
    ("", 0, "expected a question id, found end of expression"),
    ("a ==", 4, "expected a string, a number, true or false, found end of expression"),
    ('a == "x" b == "y"', 9, "expected 'and', 'or' or the end, found 'b'"),
    ('(a == "x"', 9, "expected ')', found end of expression"),
    ('a in ["x" "y"]', 10, "expected ',' or ']', found '\"y\"'"),
    ('a in "x"', 5, "expected '[', found '\"x\"'"),
    ('a not == "x"', 6, "expected 'in', found '=='"),
    ('a in []', 6, "expected a string, a number, true or false, found ']'"),
    ('a == "unterminated', 5, "unexpected character '\"'"),
    ('a = "x"', 2, "unexpected character '='"),
    ('a == "x" && b == "y"', 9, "unexpected character '&'"),
    ('and == "x"', 0, "expected a question id, found 'and'"),
])
def test_rejects_malformed_expressions_with_position(source, position, message):
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert (caught.value.position, caught.value.message) == (position, message)


def test_error_text_names_the_position():
    with pytest.raises(ExpressionError, match="at position 1$"):
        parse("a.b")


def test_rejects_deep_nesting_without_recursion_error():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("(" * 500 + 'a == "x"' + ")" * 500)


def test_parse_is_cached():
    assert parse('a == "cached"') is parse('a == "cached"')


def test_expressions_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse('a == "x"').source = "b"
