"""Routes of the stats area."""
from flask import Blueprint

bp = Blueprint("stats", __name__, template_folder="templates")
