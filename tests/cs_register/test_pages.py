"""The page seams: a page shows what the registered providers give it, and nothing breaks when
a package registers nothing."""

from __future__ import annotations

import pytest
from flask import Flask

from cs_register import pages


def test_providers_answer_in_registration_order_and_none_is_left_out():
    app = Flask("seams")
    pages.provide(app, "panels", lambda value: f"first {value}")
    pages.provide(app, "panels", lambda value: None)
    pages.provide(app, "panels", lambda value: f"second {value}")
    with app.app_context():
        assert pages.collect("panels", 7) == ["first 7", "second 7"]
        assert pages.collect("nobody-registered") == []


def test_a_page_renders_through_its_registered_renderer_only():
    app = Flask("seams")
    pages.set_renderer(app, "page", lambda public_id, *, status: (public_id, status))
    with app.app_context():
        assert pages.render("page", "abc", status=422) == ("abc", 422)
        with pytest.raises(LookupError):
            pages.render("another page")


def test_create_app_wires_the_contact_and_customer_page_providers(app):
    with app.app_context():
        seams = app.extensions["cs_register.pages"]
        providers = {name: [p.__module__ for p in found] for name, found in seams.providers.items()}
    assert providers[pages.CONTACT_PAGE_PANELS] == ["recordings.web", "cs_register.intake.views"]
    assert providers[pages.CUSTOMER_PAGE_PANELS] == [
        "recordings.call_panel",
        "cs_register.contacts.queue_views",
        "cs_register.contacts.views",
        "cs_register.consents.views",
        "cs_register.privacy.web",
    ]
    assert providers[pages.CONTACT_TIMELINE_NOTES] == ["recordings.web"]
    # Who an unidentified contact came from: the call's number, the email's sender or what
    # the chatbot was told, each held by the package above contacts that stores it.
    origins = ["recordings.contact_origins", "cs_register.intake.contact_origins"]
    assert providers[pages.CONTACT_ORIGINS] == origins
    assert providers[pages.CONTACTS_FROM] == origins
    assert seams.renderers[pages.CONTACT_PAGE].__module__ == "cs_register.contacts.views"
