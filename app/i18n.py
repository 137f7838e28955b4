"""Language choice: zh-CN first, English on request (Accept-Language, or the switch's cookie)."""
from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, refresh

from app.phrases import localized

# Interface locales (Babel) and the definition languages they show.
UI_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}  # catalog folder "zh" (Babel falls back to it)
LANG_COOKIE = "lang"


def current_lang() -> str:
    """The definition language for this request: 'zh-CN' or 'en'."""
    cached = request.environ.get("huifang.lang")
    if cached:
        return cached
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen not in UI_LOCALES:
        best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN")
        chosen = "en" if best == "en" else "zh-CN"
    request.environ["huifang.lang"] = chosen  # per request: g can outlive one request
    return chosen


def init_i18n(app: Flask, babel: Babel) -> None:
    """Bind Flask-Babel with our locale selector and remember a ?lang= choice in a cookie."""
    babel.init_app(app, locale_selector=lambda: UI_LOCALES[current_lang()])
    app.add_template_filter(localized, "localized")  # a service's refusal on a page: {{ exc.message|localized }}

    @app.before_request
    def _locale_of_this_request():
        # Flask-Babel keeps the locale it picked on the app context (g), and a request shares the app
        # context already pushed (the tests', a job's): without this it would read in an earlier
        # request's language.
        refresh()

    @app.after_request
    def _remember_lang(response):
        chosen = request.args.get("lang")
        if chosen in UI_LOCALES and request.cookies.get(LANG_COOKIE) != chosen:
            response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="Lax",
                                httponly=True, secure=app.config["SESSION_COOKIE_SECURE"])
        return response

    @app.context_processor
    def _lang_context():
        return {"lang": current_lang()}
