"""The console's language: Flask-Babel wired to the staff member's choice.

Each staff member may choose a language (`staff_users.language`); anyone who has not, and
every page before login, gets the deployment's `DEFAULT_LANGUAGE` (Finnish unless set
otherwise). API clients (the PBX, the chatbot) get their `Accept-Language` if we speak it,
else the default, so problem details read the same as the console for the operator.

Times are always Helsinki wall-clock (`cs_register.clock`), whatever the language.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel, get_locale

from cs_register.clock import CONSOLE_TIMEZONE
from cs_register.errors import translated
from cs_register.languages import LANGUAGES
from cs_register.web import current_settings, current_staff

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def select_language() -> str:
    """The language of the current request (Flask-Babel's locale selector)."""
    staff = current_staff()
    chosen = getattr(staff, "language", None)
    if chosen in LANGUAGES:
        return str(chosen)
    if request.path.startswith("/api/"):
        asked = request.accept_languages.best_match(LANGUAGES)
        if asked:
            return asked
    return current_settings().default_language


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_TIMEZONE"] = str(CONSOLE_TIMEZONE)
    Babel(app, locale_selector=select_language)
    # For messages that reach a template as data (a refused field's message, a label looked
    # up at run time): `{{ message|translated }}`.
    app.add_template_filter(translated, "translated")

    @app.context_processor
    def _language() -> dict[str, object]:
        # `<html lang>` must name the language the page is in, for screen readers: the one
        # Flask-Babel chose (and keeps) for this request's translations.
        return {"page_language": str(get_locale())}
