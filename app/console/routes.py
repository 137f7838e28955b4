"""Console routes (filled in below)."""
from flask import Blueprint, redirect, url_for
from flask_login import login_required

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


@bp.get("/")
@login_required
def index():
    """Console home."""
    return "console"
