"""Routes of the webhooks area."""
from flask import Blueprint

bp = Blueprint("webhooks", __name__, template_folder="templates")
