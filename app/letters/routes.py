"""Routes of the letters area."""
from flask import Blueprint

bp = Blueprint("letters", __name__, template_folder="templates")
