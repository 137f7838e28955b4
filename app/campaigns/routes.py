"""Routes of the campaigns area."""
from flask import Blueprint

bp = Blueprint("campaigns", __name__, template_folder="templates")
