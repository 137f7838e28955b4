"""Questionnaire definitions as plain Python: no Flask here, so tests need no app.

- loader: parse, check and normalize a definition (docs/questionnaire-format.md)
- expressions: the `show_if` language
- placeholders: `{name}` in texts, and localizing a definition for one language
- answers: validating answers, visible questions, flags (exceptions, T/SAC 002—2024 8.4)
- versioning: content hash and diff of published versions
- forms: a WTForms form class for a definition
"""

from pathlib import Path

# The built-in definitions shipped with the app, one YAML file each.
BUILTIN_DIR = Path(__file__).with_name("builtin")
