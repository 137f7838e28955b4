"""Configuration read from the environment, with safe defaults for the embedded set-up."""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("HUIFANG_INSTANCE", BASE_DIR / "instance"))


def _secret_keys() -> list[str]:
    """Signing keys, oldest first; the last one signs, all of them verify (key rotation)."""
    raw = os.environ.get("SECRET_KEYS") or os.environ.get("SECRET_KEY")
    if raw:
        return [k.strip() for k in raw.split(",") if k.strip()]
    key_file = INSTANCE_DIR / "secret_key"
    if key_file.exists():
        return [k for k in key_file.read_text().split() if k]
    return []


def default_database_url() -> str:
    """SQLite under instance/ unless DATABASE_URL names another database."""
    url = os.environ.get("DATABASE_URL")
    if url:
        # SQLAlchemy needs the driver spelled out for psycopg 3.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{INSTANCE_DIR / 'huifang.db'}"


class Config:
    """Defaults; every value can be overridden by the environment or by create_app(mapping)."""

    SECRET_KEYS = _secret_keys()
    SQLALCHEMY_DATABASE_URI = default_database_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # Public base URL used in links sent to clients (SMS, email, letters).
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    FIRM_NAME = os.environ.get("FIRM_NAME", "汇方证券")
    FIRM_NAME_EN = os.environ.get("FIRM_NAME_EN", "Huifang Securities")
    SERVICE_PHONE = os.environ.get("SERVICE_PHONE", "95500")
    # How long a signed link stays valid at most, whatever the invitation says (days).
    LINK_MAX_AGE_DAYS = int(os.environ.get("LINK_MAX_AGE_DAYS", "400"))
    DEFAULT_INVITATION_DAYS = int(os.environ.get("DEFAULT_INVITATION_DAYS", "30"))
    IDENTITY_MAX_FAILURES = 5
    IDENTITY_LOCK_MINUTES = 30
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(2 * 1024 * 1024)))
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    # Times shown to people (clients and staff) are in the firm's zone; the database keeps UTC.
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "app" / "translations")
    LANGUAGES = ("zh-CN", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    WTF_CSRF_TIME_LIMIT = None  # a client may take a long time over a questionnaire
    # In process by default (limits' memory storage, swept once a second: app/ratelimit.py); with
    # several gunicorn workers each keeps its own count, so a firm points this at its Redis (README,
    # "Serving a firm") for one count per address across workers.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "swept-memory://")
    # A moving window counts the last minute at every request. The fixed window (the default) starts
    # afresh a minute after its first hit, so 10/minute could let 19 sign-in tries through in two
    # seconds either side of that moment.
    RATELIMIT_STRATEGY = os.environ.get("RATELIMIT_STRATEGY", "moving-window")
    # When Redis cannot be reached, count in the worker's memory until it can, rather than answer
    # every limited request (sign-in, identity check, short link, gate submit) with a 500: a Redis
    # outage must not stop the reviews or block the business systems' flows at the gate.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # Names this app's counts in a Redis that other programs share.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "huifang")
    RATELIMIT_ENABLED = os.environ.get("RATELIMIT_ENABLED", "1") == "1"
    # Proxies in front that set X-Forwarded-For and X-Forwarded-Proto (nginx: 1). 0 trusts none,
    # since a client can send those headers itself when nothing strips them.
    PROXY_COUNT = os.environ.get("PROXY_COUNT", "0")
    # Fragment cache of the form page: in process, a few hundred question blocks per version in use.
    CACHE_TYPE = "SimpleCache"
    CACHE_THRESHOLD = 5000
    CACHE_DEFAULT_TIMEOUT = 0  # never expires: a published version never changes
    # argon2id cost for staff passwords (argon2-cffi's defaults: 3 passes over 64 MiB).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    # Staff sign-in (MLPS 2.0 asks for failed-login handling and sessions that end on their own):
    # wrong passwords in a row that lock an account, and for how long.
    STAFF_LOCKOUT_TRIES = 5
    STAFF_LOCKOUT_MINUTES = 15
    # A console session ends after this long without a request, and this long after sign-in.
    STAFF_IDLE_MINUTES = int(os.environ.get("STAFF_IDLE_MINUTES", "30"))
    STAFF_SESSION_HOURS = int(os.environ.get("STAFF_SESSION_HOURS", "12"))
    STAFF_PASSWORD_MIN_LENGTH = 12
    # MLPS 2.0 asks that passwords be changed periodically: after this many days a member must
    # choose a new one at the next sign-in (0: never).
    STAFF_PASSWORD_MAX_AGE_DAYS = int(os.environ.get("STAFF_PASSWORD_MAX_AGE_DAYS", "90"))
    # Two-step sign-in (MLPS 2.0, level 3: two kinds of proof, one of them cryptographic): every
    # member sets up an authenticator app at the first sign-in and gives its code after the password
    # from then on. 0 leaves it to each member (a try-out on a laptop).
    STAFF_TWO_FACTOR_REQUIRED = os.environ.get("STAFF_TWO_FACTOR_REQUIRED", "1") == "1"
    # The name authenticator apps show above the account's codes.
    STAFF_TOTP_ISSUER = os.environ.get("STAFF_TOTP_ISSUER", "Huifang")
    # Where `flask backup create` writes (7.5.2); empty: backups/ in the instance folder. Best on
    # another disk, copied off the machine.
    BACKUP_DIR = os.environ.get("BACKUP_DIR")
    # The status page, `flask status` and its exit code call for action when the newest backup that a
    # check proved is older than this (a daily backup, with two hours to spare) ...
    BACKUP_MAX_AGE_HOURS = int(os.environ.get("BACKUP_MAX_AGE_HOURS", "26"))
    # ... and when the background worker has finished no job for this long (its expiry sweeps
    # finish one a minute), or a job due has waited this long.
    WORKER_MAX_SILENCE_MINUTES = int(os.environ.get("WORKER_MAX_SILENCE_MINUTES", "5"))
    # Who is e-mailed when the status calls for action, when all is fine again, and as a reminder
    # while something still needs doing (app/status/alerts.py); empty: no alerts. Comma-separated.
    STATUS_ALERT_EMAILS = os.environ.get("STATUS_ALERT_EMAILS", "")
    STATUS_ALERT_LANG = os.environ.get("STATUS_ALERT_LANG", "zh-CN")
    STATUS_ALERT_REPEAT_HOURS = int(os.environ.get("STATUS_ALERT_REPEAT_HOURS", "24"))
    # No two alerts within this many minutes: a problem that comes and goes cannot flood the mailboxes.
    STATUS_ALERT_QUIET_MINUTES = int(os.environ.get("STATUS_ALERT_QUIET_MINUTES", "15"))
    # Where staff open the console, for the link in the alerts (the console may be on the intranet
    # while the clients' links go out under PUBLIC_BASE_URL); empty: PUBLIC_BASE_URL.
    CONSOLE_BASE_URL = os.environ.get("CONSOLE_BASE_URL", "")
