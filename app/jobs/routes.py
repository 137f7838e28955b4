"""Routes of the jobs area: none of its own; the handlers of other areas register at import time."""
from flask import Blueprint

import app.jobs.service  # noqa: F401  (registers the built-in jobs.purge handler)

bp = Blueprint("jobs", __name__, template_folder="templates")
