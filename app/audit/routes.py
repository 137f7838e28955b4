"""Routes of the audit area (the console's view of the audit log)."""
from flask import Blueprint

bp = Blueprint("audit", __name__, template_folder="templates")
