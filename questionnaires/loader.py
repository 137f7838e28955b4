"""Loading questionnaire definitions: parse, schema-check, semantic-check, normalize.

Every problem is reported at once, each with its path and, when parsed from text, its line.
The format is docs/questionnaire-format.md; the schema is schema.json next to this file.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from .expressions import ExpressionError, parse
from .placeholders import LANGUAGES, PlaceholderSyntaxError, bilingual_texts, names_in_text

SCHEMA = json.loads(Path(__file__).with_name("schema.json").read_text(encoding="utf-8"))
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
_QUESTION_FIELDS = set(SCHEMA["$defs"]["question"]["properties"])

# Aliases can make a small file expand exponentially, and deep nesting exhausts the stack;
# real definitions have a few thousand values, nested six levels at most.
MAX_NODES = 100_000
MAX_DEPTH = 20
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"

DEFAULT_MAX_LENGTH = 2000
DEFAULT_SCALE = 5
DEFAULT_YES_NO_OPTIONS = (
    {"value": "yes", "label": {"zh-CN": "是", "en": "Yes"}},
    {"value": "no", "label": {"zh-CN": "否", "en": "No"}},
)
CHOICE_TYPES = {"single_choice", "multiple_choice", "yes_no"}
ANSWERABLE_TYPES = CHOICE_TYPES | {"text", "number", "date", "rating", "consent"}

# Question ids become WTForms field names (questionnaires.forms); these would shadow attributes
# of wtforms.Form / flask_wtf.FlaskForm or the form class's `questions` list.
RESERVED_IDS = frozenset({
    "csrf_token", "data", "errors", "form_errors", "hidden_tag", "is_submitted", "meta",
    "populate_obj", "process", "questions", "validate",
})
# WTForms calls a form attribute `validate_<field>` as an inline validator of field <field>.
_RESERVED_PREFIX = "validate_"

_NOUNS = {"type": "question type", "review_type": "review type", "identity_check": "identity check"}
_TYPE_NAMES = {
    "string": "text", "object": "a mapping", "array": "a list", "integer": "a whole number",
    "number": "a number", "boolean": "true or false",
}
_PATTERN_HINTS = {
    "key": "a valid key (3–64 lowercase letters, digits, '-' or '_', starting with a letter)",
    "id": "a valid id (lowercase letters, digits and '_', starting with a letter, at most 63)",
    "value": "a valid option value (1–40 lowercase letters, digits and '_')",
    "min": "a date written YYYY-MM-DD",
    "max": "a date written YYYY-MM-DD",
}


@dataclass(frozen=True)
class DefinitionIssue:
    """One problem in a definition: where it is and what is wrong."""

    path: str
    message: str
    line: int | None = None

    def __str__(self):
        text = f"{self.path}: {self.message}" if self.path else self.message
        return text if self.line is None else f"{text} (line {self.line})"


class DefinitionError(ValueError):
    """A definition with problems; `issues` lists all of them."""

    def __init__(self, issues: list[DefinitionIssue], filename: str = "<definition>"):
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = list(issues)
        self.filename = filename


@dataclass(frozen=True)
class _Problem:
    """An issue before paths are rendered; `at` is the path whose line to report, if not `path`."""

    path: tuple
    message: str
    at: tuple | None = None
    line: int | None = None


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, except that an impossible date stays text instead of crashing."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            # e.g. 2024-13-40; the date checks then report it with its line.
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


class _Parsed:
    """The result of reading text: data, a line for each path, and the problems found so far."""

    def __init__(self):
        self.data = None
        self.lines: dict[tuple, int] = {}
        self.problems: list[_Problem] = []


def load_definition(text: str | bytes, *, filename: str = "<definition>") -> dict:
    """Parse YAML or JSON (JSON is YAML), schema-check, semantic-check, normalize; raise DefinitionError."""
    parsed = _read(text)
    if parsed.data is None and parsed.problems:
        raise DefinitionError(_issues(parsed.problems, parsed.lines, None), filename)
    return _checked(parsed.data, parsed.lines, parsed.problems, filename)


def load_definition_file(path) -> dict:
    """Load a definition from a YAML or JSON file."""
    path = Path(path)
    return load_definition(path.read_bytes(), filename=str(path))


def validate_definition(data: dict) -> dict:
    """Run the same checks on already-parsed data (the JSON API); return it normalized."""
    return _checked(data, {}, [], "<definition>")


def _checked(data, lines: dict, problems: list[_Problem], filename: str) -> dict:
    """Check parsed data; raise DefinitionError with every problem, else return it normalized."""
    if data is None:
        problems = problems + [_Problem((), "the definition is empty")]
        raise DefinitionError(_issues(problems, lines, None), filename)
    data, plain_problems = _plain(data)
    problems = problems + plain_problems + _schema_problems(data) + _semantic_problems(data)
    if problems:
        raise DefinitionError(_issues(problems, lines, data), filename)
    return _normalized(data)


# Reading text --------------------------------------------------------------------------------


def _read(text: str | bytes) -> _Parsed:
    parsed = _Parsed()
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            parsed.problems.append(_Problem((), f"not UTF-8 text (byte {error.start})"))
            return parsed
    try:
        _compose(_json_tabs_as_spaces(text), parsed)
    except _TooLarge as error:
        parsed.problems.append(_Problem((), str(error)))
    except RecursionError:
        parsed.problems.append(_Problem((), TOO_DEEP))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        parsed.problems.append(_Problem((), f"YAML syntax: {error.problem or error.context}", line=line))
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        message = f"YAML syntax: character U+{error.character:04X} is not allowed"
        parsed.problems.append(_Problem((), message, line=line))
    except yaml.YAMLError as error:
        parsed.problems.append(_Problem((), f"YAML syntax: {error}"))
    return parsed


def _compose(text: str, parsed: _Parsed) -> None:
    """Fill `parsed` with the data, the line of each path and any duplicate keys."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), parsed, [MAX_NODES])
            parsed.data = loader.construct_document(node)
    finally:
        loader.dispose()


def _json_tabs_as_spaces(text: str) -> str:
    # PyYAML refuses tab indentation, which JSON allows. Valid JSON has no raw tab inside a
    # string, so swapping tabs for spaces changes neither its meaning nor its line numbers.
    if "\t" in text and text.lstrip().startswith(("{", "[")):
        try:
            json.loads(text)
        except ValueError:
            return text
        return text.replace("\t", " ")
    return text


class _TooLarge(Exception):
    pass


def _walk(node: yaml.Node, path: tuple, parsed: _Parsed, budget: list[int]) -> None:
    """Record the line of every path under `node` and report duplicate mapping keys."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge(f"too large: more than {MAX_NODES} values (check aliases)")
    if len(path) > MAX_DEPTH:
        raise _TooLarge(TOO_DEEP)
    parsed.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), parsed, budget)
    elif isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            # A complex key (a list or mapping) is refused later, when the data is constructed.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key in first_lines:
                message = f"duplicate key {key!r} (first on line {first_lines[key]})"
                parsed.problems.append(_Problem(path, message, line=line))
            else:
                first_lines[key] = line
                # The key's line, not the value's: a nested mapping starts on the next line.
                parsed.lines.setdefault(path + (key,), line)
            _walk(value_node, path + (key,), parsed, budget)


def _plain(value, path: tuple = ()) -> tuple[object, list[_Problem]]:
    """A JSON-compatible copy of YAML data: dates as ISO strings; report what JSON cannot hold."""
    if len(path) > MAX_DEPTH:
        return None, [_Problem(path[:MAX_DEPTH], TOO_DEEP)]
    if isinstance(value, dict):
        return _plain_mapping(value, path)
    if isinstance(value, (list, tuple)):
        pairs = [_plain(item, path + (index,)) for index, item in enumerate(value)]
        return [item for item, _ in pairs], [p for _, more in pairs for p in more]
    if isinstance(value, datetime.datetime):
        return value, [_Problem(path, "a date and time is not allowed here: put it in quotes")]
    if isinstance(value, datetime.date):
        # YAML reads an unquoted 2024-01-31 as a date; the format stores ISO strings.
        return value.isoformat(), []
    if isinstance(value, float) and not math.isfinite(value):
        return value, [_Problem(path, "must be a finite number")]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value, []
    return value, [_Problem(path, f"unsupported value of type {type(value).__name__}")]


def _plain_mapping(value: dict, path: tuple) -> tuple[dict, list[_Problem]]:
    plain, problems = {}, []
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(_Problem(path, f"key {key!r} must be text: put it in quotes"))
            continue
        plain[key], more = _plain(item, path + (key,))
        problems += more
    return plain, problems


# Schema --------------------------------------------------------------------------------------


def _schema_problems(data) -> list[_Problem]:
    return [problem for error in _VALIDATOR.iter_errors(data) for problem in _translated(error, data)]


def _translated(error: jsonschema.ValidationError, data) -> list[_Problem]:
    """Short, clear problems for one jsonschema error."""
    path = tuple(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return [_Problem(path, f"missing required field {name!r}") for name in missing]
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = [name for name in error.instance if name not in known]
        return [_Problem(path, f"unknown field {name!r}", path + (name,)) for name in unknown]
    if "propertyNames" in error.relative_schema_path:
        return [_field_not_applicable(path, error.instance, data)]
    if error.validator == "enum" and path:
        noun = _NOUNS.get(path[-1], path[-1])
        return [_Problem(path[:-1], f"unknown {noun} {error.instance!r}", path)]
    return [_Problem(path, _message(error, path))]


def _field_not_applicable(path: tuple, field: str, data) -> _Problem:
    if field not in _QUESTION_FIELDS:
        return _Problem(path, f"unknown field {field!r}", path + (field,))
    question_type = _at(data, path).get("type")  # valid here: the type's rule applied
    return _Problem(path, f"field {field!r} does not apply to type {question_type!r}", path + (field,))


def _message(error: jsonschema.ValidationError, path: tuple) -> str:
    field, value, limit = (path[-1] if path else None), error.instance, error.validator_value
    match error.validator:
        case "type" if not path:
            return "the definition must be a mapping"
        case "type":
            return _type_message(limit, value)
        case "pattern":
            return f"{value!r} is not {_PATTERN_HINTS.get(field, f'matching {limit}')}"
        case "minItems":
            noun = "question" if field == "questions" else "option" if field == "options" else "item"
            return f"needs at least {limit} {noun}{'s' if limit != 1 else ''}"
        case "minLength":
            return "must not be empty"
        case "maxLength":
            return f"must be at most {limit} characters"
        case "minimum":
            return f"must be at least {limit}"
        case "maximum":
            return f"must be at most {limit}"
    return error.message


def _type_message(expected: str, value) -> str:
    message = f"must be {_TYPE_NAMES.get(expected, expected)}"
    if expected == "string" and isinstance(value, bool):
        return message + ": YAML reads bare yes/no/on/off/true/false as true or false; put it in quotes"
    if expected == "string" and isinstance(value, (int, float)):
        return message + ": put it in quotes"
    return message


def _at(data, path: tuple):
    for part in path:
        data = data[part]
    return data


# Semantic checks -----------------------------------------------------------------------------


def _questions(data) -> Iterator[tuple[tuple, dict]]:
    """(path, question) for each question that is a mapping; the schema reports the rest."""
    questions = data.get("questions") if isinstance(data, dict) else None
    if isinstance(questions, list):
        for index, question in enumerate(questions):
            if isinstance(question, dict):
                yield ("questions", index), question


def _word(mapping, field: str) -> str | None:
    """A text field such as `id` or `type`, or None when it is missing or not text."""
    value = mapping.get(field) if isinstance(mapping, dict) else None
    return value if isinstance(value, str) else None


def _semantic_problems(data) -> list[_Problem]:
    problems = _id_problems(data) + _show_if_problems(data) + _placeholder_problems(data)
    for path, question in _questions(data):
        problems += _question_problems(path, question)
    return problems


def _id_problems(data) -> list[_Problem]:
    problems, first_use = [], {}
    for path, question in _questions(data):
        question_id = _word(question, "id")
        if not isinstance(question_id, str):
            continue
        if question_id in first_use:
            first = first_use[question_id]
            message = f"duplicate question id {question_id!r} (already used by questions[{first}])"
            problems.append(_Problem(path, message, path + ("id",)))
        first_use.setdefault(question_id, path[1])
        if question_id in RESERVED_IDS or question_id.startswith(_RESERVED_PREFIX):
            problems.append(_Problem(path + ("id",), f"{question_id!r} is reserved; choose another id"))
    return problems


def _question_problems(path: tuple, question: dict) -> list[_Problem]:
    checks = {
        "single_choice": _option_problems,
        "multiple_choice": _multiple_choice_problems,
        "yes_no": _yes_no_problems,
        "text": _text_problems,
        "number": _number_problems,
        "date": _date_problems,
        "rating": _rating_problems,
    }
    check = checks.get(_word(question, "type"))
    return check(path, question) if check else []


def _options(question: dict) -> list:
    options = question.get("options")
    return options if isinstance(options, list) else []


def _option_values(question: dict) -> list[str]:
    return [_word(option, "value") for option in _options(question) if _word(option, "value")]


def _option_problems(path: tuple, question: dict) -> list[_Problem]:
    problems, seen = [], set()
    for index, option in enumerate(_options(question)):
        value = _word(option, "value")
        if value is not None and value in seen:
            option_path = path + ("options", index)
            message = f"duplicate option value {value!r}"
            problems.append(_Problem(option_path, message, option_path + ("value",)))
        seen.add(value)
    return problems


def _multiple_choice_problems(path: tuple, question: dict) -> list[_Problem]:
    problems = _option_problems(path, question)
    problems += _min_max_problems(path, question, "min_choices", "max_choices")
    count = len(_option_values(question))
    for field in ("min_choices", "max_choices"):
        limit = question.get(field)
        if _is_number(limit) and count and limit > count:
            problems.append(_Problem(path + (field,), f"is {limit}, but there are only {count} options"))
    return problems


def _yes_no_problems(path: tuple, question: dict) -> list[_Problem]:
    if "options" not in question:
        return []
    if sorted(_option_values(question)) != ["no", "yes"]:
        return [_Problem(path + ("options",), "yes_no options must be exactly the values 'yes' and 'no'")]
    return []


def _text_problems(path: tuple, question: dict) -> list[_Problem]:
    with_default = {"max_length": DEFAULT_MAX_LENGTH, **question}
    problems = _min_max_problems(path, with_default, "min_length", "max_length")
    pattern = question.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as error:
            problems.append(_Problem(path + ("pattern",), f"invalid regular expression: {error}"))
    return problems


def _number_problems(path: tuple, question: dict) -> list[_Problem]:
    return _min_max_problems(path, question, "min", "max")


def _date_problems(path: tuple, question: dict) -> list[_Problem]:
    problems = []
    for field in ("min", "max"):
        value = question.get(field)
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            try:
                datetime.date.fromisoformat(value)
            except ValueError:
                problems.append(_Problem(path + (field,), f"{value!r} is not a real date"))
    if problems:
        return problems
    # ISO dates compare correctly as strings.
    return _min_max_problems(path, question, "min", "max", _is_iso_date)


def _rating_problems(path: tuple, question: dict) -> list[_Problem]:
    rule, scale = question.get("flag_at_or_below"), question.get("scale", DEFAULT_SCALE)
    value = rule.get("value") if isinstance(rule, dict) else None
    if _is_number(value) and _is_number(scale) and value > scale:
        at = path + ("flag_at_or_below", "value")
        return [_Problem(at, f"{value} is outside the scale 1–{scale}")]
    return []


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_iso_date(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) is not None


def _min_max_problems(
    path: tuple, question: dict, low: str, high: str, comparable=_is_number
) -> list[_Problem]:
    lowest, highest = question.get(low), question.get(high)
    if comparable(lowest) and comparable(highest) and lowest > highest:
        return [_Problem(path, f"{low} {lowest!r} is greater than {high} {highest!r}", path + (low,))]
    return []


def _show_if_problems(data) -> list[_Problem]:
    all_ids = {_word(question, "id") for _, question in _questions(data)}
    problems, earlier = [], {}
    for path, question in _questions(data):
        source = question.get("show_if")
        if isinstance(source, str):
            problems += _condition_problems(path + ("show_if",), source, earlier, all_ids)
        if _word(question, "id"):
            earlier.setdefault(question["id"], question)
    return problems


def _condition_problems(path: tuple, source: str, earlier: dict, all_ids: set) -> list[_Problem]:
    try:
        expression = parse(source)
    except ExpressionError as error:
        return [_Problem(path, f"cannot parse: {error.message} at position {error.position}")]
    problems = []
    for question_id, literals in sorted(expression.literals_by_id().items()):
        referenced = earlier.get(question_id)
        if question_id not in all_ids:
            problems.append(_Problem(path, f"refers to unknown question {question_id!r}"))
        elif referenced is None:
            problems.append(_Problem(path, f"refers to {question_id!r}, which is not an earlier question"))
        elif _word(referenced, "type") == "notice":
            problems.append(_Problem(path, f"refers to {question_id!r}, a notice, which has no answer"))
        elif _word(referenced, "type") in ANSWERABLE_TYPES:
            impossible = [literal for literal in literals if not _can_answer(referenced, literal)]
            problems += [_literal_problem(path, question_id, referenced, literal) for literal in impossible]
    return sorted(problems, key=lambda problem: problem.message)


def _literal_problem(path: tuple, question_id: str, question: dict, literal) -> _Problem:
    shown, question_type = json.dumps(literal, ensure_ascii=False), _word(question, "type")
    if question_type in CHOICE_TYPES:
        reason = "which is not one of its option values"
    else:
        reason = f"which a {question_type} question never gives"
    return _Problem(path, f"compares {question_id!r} with {shown}, {reason}")


def _can_answer(question: dict, literal) -> bool:
    """Whether `literal` is a possible answer (or chosen value) of `question`."""
    question_type = _word(question, "type")
    if question_type == "yes_no" and "options" not in question:
        return literal in ("yes", "no")
    if question_type in CHOICE_TYPES:
        return isinstance(literal, str) and literal in _option_values(question)
    if question_type == "rating":
        scale = question.get("scale", DEFAULT_SCALE)
        return isinstance(literal, int) and not isinstance(literal, bool) and 1 <= literal <= scale
    if question_type == "number":
        return _is_number(literal)
    if question_type == "consent":
        return literal is True
    return isinstance(literal, str)


def _placeholder_problems(data) -> list[_Problem]:
    problems = []
    for path, text in bilingual_texts(data):
        for language in LANGUAGES:
            if not isinstance(text[language], str):
                continue
            try:
                names_in_text(text[language])
            except PlaceholderSyntaxError as error:
                problems.append(_Problem(path + (language,), f"bad placeholder: {error}"))
    return problems


# Reporting -----------------------------------------------------------------------------------


def _issues(problems: list[_Problem], lines: dict, data) -> list[DefinitionIssue]:
    """Render problems as issues in document order, without repeats."""
    order = {path: index for index, path in enumerate(_paths(data))}
    keyed = []
    for problem in problems:
        at = problem.at if problem.at is not None else problem.path
        line = problem.line if problem.line is not None else _nearest(lines, at)
        issue = DefinitionIssue(_path_text(problem.path), problem.message, line)
        keyed.append(((line or 0, _nearest(order, at) or 0), issue))
    keyed.sort(key=lambda pair: pair[0])
    return list(dict.fromkeys(issue for _, issue in keyed))


def _paths(value, path: tuple = ()) -> Iterator[tuple]:
    """Every path in `value`, in document order."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _nearest(table: dict, path: tuple):
    """The entry for `path`, or for its closest ancestor that has one."""
    while path and path not in table:
        path = path[:-1]
    return table.get(path)


def _path_text(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# Normalizing ---------------------------------------------------------------------------------


def _normalized(data: dict) -> dict:
    """The definition with every default written out and bilingual texts zh-CN first."""
    definition = _zh_first(data)
    definition["questions"] = [_normalized_question(question) for question in definition["questions"]]
    return definition


def _zh_first(value):
    if isinstance(value, dict):
        if set(value) == set(LANGUAGES):
            return {language: value[language] for language in LANGUAGES}
        return {key: _zh_first(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_zh_first(item) for item in value]
    return value


def _normalized_question(question: dict) -> dict:
    question = dict(question)
    question_type = question["type"]
    # A notice takes no answer; a consent must always be given (see the format).
    fixed = {"notice": False, "consent": True}
    question["required"] = fixed.get(question_type, question.get("required", True))
    if question_type == "text":
        question.setdefault("multiline", False)
        question.setdefault("max_length", DEFAULT_MAX_LENGTH)
    elif question_type == "number":
        question.setdefault("integer", False)
    elif question_type == "rating":
        question.setdefault("scale", DEFAULT_SCALE)
    elif question_type == "yes_no":
        question.setdefault("options", copy.deepcopy(list(DEFAULT_YES_NO_OPTIONS)))
    return question
