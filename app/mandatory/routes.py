"""Routes of the mandatory area."""
from flask import Blueprint

bp = Blueprint("mandatory", __name__, template_folder="templates")
