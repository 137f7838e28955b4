"""Routes of the followup area."""
from flask import Blueprint

bp = Blueprint("followup", __name__, template_folder="templates")
