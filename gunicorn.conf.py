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


def post_worker_init(worker):
    """Move what the app loaded at start-up out of the garbage collector's sight.

    Modules, templates and the definition cache live as long as the worker; without this every
    full collection walks them all again, a pause of tens of milliseconds in the middle of some
    request (gc.freeze, Python >= 3.7, is meant for exactly this).
    """
    import gc

    gc.collect()
    gc.freeze()
