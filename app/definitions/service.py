"""Publishing, retiring and comparing questionnaire versions."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import sqlalchemy as sa

from app.audit.service import record
from app.db_types import utcnow
from app.definitions.models import Questionnaire, QuestionnaireVersion, ReviewType
from app.extensions import db
from questionnaires.loader import DefinitionError, DefinitionIssue, load_definition, validate_definition
from questionnaires.versioning import canonical_json, content_hash, diff_definitions

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "questionnaires" / "builtin"


def publish_text(source: str, actor: str, filename: str = "<definition>") -> tuple[QuestionnaireVersion, bool]:
    """Validate a YAML/JSON definition and publish it; returns (version, created)."""
    definition = load_definition(source, filename=filename)
    return publish_definition(definition, source, actor)


def publish_data(data: dict, actor: str) -> tuple[QuestionnaireVersion, bool]:
    """Validate an already-parsed definition (the JSON API) and publish it."""
    definition = validate_definition(data)
    return publish_definition(definition, canonical_json(definition), actor)


def publish_definition(definition: dict, source: str, actor: str) -> tuple[QuestionnaireVersion, bool]:
    """Publish a validated definition: same content returns the same version; changed content is n+1."""
    digest = content_hash(definition)
    questionnaire = db.session.scalars(
        sa.select(Questionnaire).where(Questionnaire.key == definition["key"])
    ).one_or_none()
    review_type = ReviewType(definition["review_type"])
    if questionnaire is None:
        questionnaire = Questionnaire(key=definition["key"], review_type=review_type)
        db.session.add(questionnaire)
        db.session.flush()
    elif questionnaire.review_type is not review_type:
        raise DefinitionError([DefinitionIssue(
            "review_type",
            f"questionnaire '{questionnaire.key}' is a {questionnaire.review_type.value} questionnaire; "
            f"publish a new key for type {review_type.value}",
            None,
        )])
    existing = db.session.scalars(
        sa.select(QuestionnaireVersion).where(
            QuestionnaireVersion.questionnaire_id == questionnaire.id,
            QuestionnaireVersion.content_hash == digest,
        )
    ).one_or_none()
    if existing is not None:
        return existing, False
    last = db.session.scalar(
        sa.select(sa.func.max(QuestionnaireVersion.number)).where(
            QuestionnaireVersion.questionnaire_id == questionnaire.id
        )
    )
    version = QuestionnaireVersion(
        questionnaire=questionnaire,
        number=(last or 0) + 1,
        content_hash=digest,
        definition=definition,
        source=source,
        title_zh=definition["title"]["zh-CN"][:200],
        title_en=definition["title"]["en"][:200],
        published_by=actor,
    )
    db.session.add(version)
    db.session.flush()
    record(actor, "questionnaire.publish", "questionnaire_version", version.id,
           {"key": questionnaire.key, "version": version.number, "hash": digest})
    return version, True


def publish_builtin(actor: str = "system") -> list[tuple[QuestionnaireVersion, bool]]:
    """Publish every built-in definition (Appendices A and E); unchanged ones are left as they are."""
    results = []
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        results.append(publish_text(path.read_text(encoding="utf-8"), actor, filename=path.name))
    return results


def retire_version(version: QuestionnaireVersion, actor: str) -> bool:
    """Retire a version: kept for the record, no longer sent or answered. False if it already was."""
    if version.is_retired:
        return False
    version.retired_at = utcnow()
    version.retired_by = actor
    db.session.flush()
    record(actor, "questionnaire.retire", "questionnaire_version", version.id,
           {"key": version.questionnaire.key, "version": version.number})
    return True


def get_questionnaire(key: str) -> Optional[Questionnaire]:
    """The questionnaire with this key, or None."""
    return db.session.scalars(sa.select(Questionnaire).where(Questionnaire.key == key)).one_or_none()


def get_version(key: str, number: Optional[int] = None) -> Optional[QuestionnaireVersion]:
    """A given version, or the newest one not retired when number is None."""
    query = (
        sa.select(QuestionnaireVersion)
        .join(Questionnaire)
        .where(Questionnaire.key == key)
    )
    if number is not None:
        return db.session.scalars(query.where(QuestionnaireVersion.number == number)).one_or_none()
    return db.session.scalars(
        query.where(QuestionnaireVersion.retired_at.is_(None)).order_by(QuestionnaireVersion.number.desc()).limit(1)
    ).one_or_none()


def list_questionnaires() -> list[dict]:
    """Each questionnaire with its key, review type, latest version and counts (for API and console)."""
    latest = (
        sa.select(
            QuestionnaireVersion.questionnaire_id,
            sa.func.max(QuestionnaireVersion.number).label("latest"),
            sa.func.count().label("versions"),
        )
        .group_by(QuestionnaireVersion.questionnaire_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Questionnaire, latest.c.latest, latest.c.versions)
        .join(latest, latest.c.questionnaire_id == Questionnaire.id)
        .order_by(Questionnaire.key)
    ).all()
    return [
        {"questionnaire": q, "latest_version": number, "version_count": count}
        for q, number, count in rows
    ]


def diff_versions(old: QuestionnaireVersion, new: QuestionnaireVersion) -> list[dict]:
    """What changed between two versions of the same questionnaire."""
    return diff_definitions(old.definition, new.definition)
