"""The page where a staff member chooses the console's language for themselves."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext

from cs_register.errors import ValidationFailed
from cs_register.languages import LANGUAGES
from cs_register.staff.language import DEPLOYMENT_DEFAULT, choose_language
from cs_register.staff.login import current_account
from cs_register.web import current_settings, staff_context


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/account/language", view_func=language, methods=["GET", "POST"])


def _page(chosen: str, errors: dict[str, list[str]], status: int = 200) -> tuple[str, int]:
    default = current_settings().default_language
    page = render_template(
        "staff/language.html",
        chosen=chosen,
        default_name=LANGUAGES[default],
        choices=[(code, name) for code, name in LANGUAGES.items()],
        deployment_default=DEPLOYMENT_DEFAULT,
        errors=errors,
    )
    return page, status


def language() -> Any:
    user = current_account()
    if request.method == "GET":
        return _page(user.language or DEPLOYMENT_DEFAULT, {})
    chosen = request.form.get("language", "")
    try:
        choose_language(staff_context(), user, chosen)
    except ValidationFailed as failure:
        return _page(chosen, failure.errors, 422)
    # The confirmation is read in the language just chosen, not the one the form was in.
    with force_locale(user.language or current_settings().default_language):
        flash(gettext("Language saved."), "success")
    return redirect(url_for("auth.language"))
