"""Huifang: questionnaire delivery for securities firms' client reviews (T/SAC 002—2024)."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Mapping, Optional

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import BASE_DIR, INSTANCE_DIR, Config
from app.extensions import babel, cache, csrf, db, limiter, login_manager, migrate
from app.params import RowIdConverter, whole_number


def create_app(config: Optional[Mapping[str, Any]] = None) -> Flask:
    """Build the application: defaults, then the environment, then the given mapping (tests)."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        static_folder=str(BASE_DIR / "static"),
        static_url_path="/static",
    )
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    _configure_secret_keys(app)
    _trust_proxies(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    cache.init_app(app)
    login_manager.init_app(app)
    from app.i18n import init_i18n

    init_i18n(app, babel)
    with app.app_context():
        _configure_engine(db.engine)

    app.jinja_env.add_extension("jinja2.ext.do")
    # Before the blueprints: a rule takes its converter when it is added.
    app.url_map.converters["int"] = RowIdConverter
    _register_blueprints(app)
    _register_cli(app)
    from app import assets, errors, inputs, security

    errors.register(app)
    inputs.register(app)
    assets.register(app)
    security.register(app)
    return app


def _configure_secret_keys(app: Flask) -> None:
    """Sign with the newest key; older keys still verify (rotation). A first run makes one."""
    keys = list(app.config.get("SECRET_KEYS") or [])
    if not keys:
        key_file = Path(app.instance_path) / "secret_key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48) + "\n")
            key_file.chmod(0o600)
        keys = key_file.read_text().split()
    app.config["SECRET_KEYS"] = keys
    app.config["SECRET_KEY"] = keys[-1]
    app.config["SECRET_KEY_FALLBACKS"] = keys[:-1]


def _trust_proxies(app: Flask) -> None:
    """Behind PROXY_COUNT proxies, take the client's address and scheme from their headers.

    The identity check's rate limit, the logged identity attempts and the audit trail key on the
    client's address; behind nginx every request would otherwise come from 127.0.0.1.
    """
    raw = str(app.config.get("PROXY_COUNT", "0"))
    try:
        count = whole_number(raw, 0)
    except ValueError:
        raise ValueError(f"PROXY_COUNT: expected the number of proxies in front (0 or more), got {raw.strip()!r}") \
            from None
    app.config["PROXY_COUNT"] = count
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def _configure_engine(engine: sa.Engine) -> None:
    """SQLite: WAL so readers never wait for the writer, writers queued, foreign keys on."""
    if engine.dialect.name != "sqlite":
        return
    from app.sqlite_writes import queue_writers

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    queue_writers(engine)


# Areas with a blueprint and CLI commands, registered explicitly in this order.
AREAS = ("respond", "auth", "console", "api", "jobs", "mandatory", "webhooks", "campaigns", "letters",
         "followup", "stats", "audit", "status")
# Blueprints whose routes authenticate with API keys instead of cookies + CSRF.
CSRF_EXEMPT = ("api", "mandatory_api", "webhooks_api", "campaigns_api", "letters_api", "delivery_receipts")


def _register_blueprints(app: Flask) -> None:
    import importlib

    for area in AREAS:
        routes = importlib.import_module(f"app.{area}.routes")
        for blueprint in getattr(routes, "blueprints", [routes.bp]):
            app.register_blueprint(blueprint)
            if blueprint.name in CSRF_EXEMPT:
                csrf.exempt(blueprint)


def _register_cli(app: Flask) -> None:
    from app.cli import register_cli

    register_cli(app)
