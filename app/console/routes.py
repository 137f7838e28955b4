"""Console routes: questionnaires, invitations, responses and clients for staff."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from app.console.nav import nav_item, visible_nav

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


@bp.app_context_processor
def _console_nav():
    """The navigation entries the signed-in user's role may see."""
    if current_user and current_user.is_authenticated:
        return {"console_nav": visible_nav(current_user)}
    return {"console_nav": []}


nav_item("Home", "console.index", order=0)


@bp.get("/")
@login_required
def index():
    """Console home."""
    return render_template("console/index.html")
