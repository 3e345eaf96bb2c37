"""The console in Finnish, Swedish and English: complete catalogs, and each staff member's
choice of language.

The completeness test extracts the strings exactly as `make messages` does (babel.cfg and the
Makefile's BABEL_KEYWORDS), so a string added to a template or a flash message without a
Finnish and a Swedish translation fails the suite.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from cs_register.languages import LANGUAGES, TRANSLATED_LANGUAGES
from cs_register.staff.models import StaffUser

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "cs_register" / "translations"
SOURCES = ("cs_register", "recordings", "jobs")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _keywords() -> dict[str, object]:
    line = next(
        line
        for line in (ROOT / "Makefile").read_text().splitlines()
        if line.startswith("BABEL_KEYWORDS :=")
    )
    names = [word for word in shlex.split(line.split(":=", 1)[1]) if word != "-k"]
    return {**DEFAULT_KEYWORDS, **parse_keywords(names)}


def _source_messages() -> dict[tuple[str, str | None], str]:
    """Every (msgid, context) in the code, and the first file it is in."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = _keywords()
    found: dict[tuple[str, str | None], str] = {}
    for folder in SOURCES:
        for filename, _line, message, _comments, context in extract_from_dir(
            str(ROOT / folder), method_map, options_map, keywords=keywords
        ):
            msgid = message if isinstance(message, str) else message[0]
            if msgid:
                found.setdefault((msgid, context), f"{folder}/{filename}")
    return found


@pytest.fixture(scope="module")
def source_messages() -> dict[tuple[str, str | None], str]:
    return _source_messages()


def _catalog(language: str) -> Catalog:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def test_the_code_has_translatable_strings_to_check(source_messages):
    # A broken babel.cfg would find nothing and let every catalog "pass".
    assert ("Log out", None) in source_messages
    assert ("Skip to main content", None) in source_messages
    assert len(source_messages) > 300


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_the_catalog_translates_every_string_in_the_code(source_messages, language):
    catalog = _catalog(language)
    missing = []
    for (msgid, context), where in sorted(source_messages.items(), key=str):
        entry = catalog.get(msgid, context=context)
        if entry is None or entry.fuzzy:
            missing.append(f"{msgid!r} ({where})")
            continue
        translations = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(translations):
            missing.append(f"{msgid!r} ({where}): empty")
    assert not missing, (
        f"{len(missing)} strings lack a {LANGUAGES[language]} translation; run `make messages`"
        " and translate them in cs_register/translations/" + language + ":\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_translations_keep_every_placeholder(language):
    wrong = []
    for entry in _catalog(language):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if string and set(PLACEHOLDER.findall(string)) != wanted:
                wrong.append(f"{ids[0]!r} -> {string!r}")
    assert not wrong, "translations that lose or invent a placeholder:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_the_compiled_catalog_is_built_from_the_current_one(language):
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    compiled = folder / "messages.mo"
    assert compiled.exists(), "run `make catalogs` (make test and make run do it)"
    assert compiled.stat().st_mtime >= (folder / "messages.po").stat().st_mtime, (
        "the .mo is older than its .po: run `make catalogs`"
    )


@pytest.fixture
def finnish_app(app: Flask) -> Flask:
    app.extensions["cs_register.settings"] = app.extensions["cs_register.settings"].with_overrides(
        default_language="fi"
    )
    return app


def test_the_deployment_default_language_greets_someone_not_logged_in(finnish_app: Flask):
    page = finnish_app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="fi">' in page
    assert "Kirjaudu sisään" in page


def test_a_staff_member_chooses_swedish_and_the_console_follows(
    finnish_app: Flask, client: FlaskClient, logged_in, database
):
    agent = logged_in("agent")
    assert "Kirjaudu ulos" in client.get("/account/language").get_data(as_text=True)

    response = client.post("/account/language", data={"language": "sv"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="sv">' in page
    assert "Logga ut" in page
    # The confirmation is already in the language chosen.
    assert "Språket har sparats." in page
    with database.unit_of_work() as session:
        assert session.get(StaffUser, agent.id).language == "sv"

    client.post("/account/language", data={"language": ""})
    assert '<html lang="fi">' in client.get("/account/language").get_data(as_text=True)
    with database.unit_of_work() as session:
        assert session.get(StaffUser, agent.id).language is None


def test_a_language_we_do_not_speak_is_refused_with_a_message(client: FlaskClient, logged_in):
    logged_in("agent")
    response = client.post("/account/language", data={"language": "de"})
    assert response.status_code == 422
    assert "Choose one of the languages listed." in response.get_data(as_text=True)


def test_an_error_detail_is_shown_in_the_readers_language(finnish_app: Flask):
    response = finnish_app.test_client().get(
        "/api/v1/recordings/not-a-real-id", headers={"Accept-Language": "sv"}
    )
    body = response.get_json()
    assert response.status_code in (401, 404)
    # The title comes from the Swedish catalog, not English.
    assert body["title"] in ("Obehörig", "Hittades inte")


def test_a_message_with_a_number_is_shown_translated_with_its_value(
    finnish_app: Flask, client: FlaskClient, logged_in
):
    logged_in("agent")
    client.post("/account/language", data={"language": "fi"})
    response = client.post("/customers/search", data={"kind": "name", "value": "a"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    # languages.Message: the Finnish template, formatted with the minimum the code raised.
    assert "Kirjoita nimestä vähintään 2 kirjainta." in page
    assert "Type at least" not in page
