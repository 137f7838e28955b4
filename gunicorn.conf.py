"""Gunicorn settings for `make run`: access logs without the bearer tokens that sit in link paths."""
from gunicorn.glogging import Logger

from app.logredact import redact


class RedactingLogger(Logger):
    """Access log lines with link tokens and short codes redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f", "{raw_uri}e"):
            if key in atoms and isinstance(atoms[key], str):
                atoms[key] = redact(atoms[key])
        return atoms


logger_class = RedactingLogger
