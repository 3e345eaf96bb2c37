"""The customer console pages, through the real app, database and login."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import (
    Channel,
    Contact,
    Direction,
    IdentityVerification,
    VerificationOutcome,
)
from cs_register.customers import search as search_module
from cs_register.customers.models import Customer, CustomerRevision
from tests.cs_register.customers.conftest import identity_code

CODE = identity_code("150683", "-", "234")
OTHER_CODE = identity_code("020295", "-", "456")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def audit_rows(db_session, action):
    return db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def urls_in(html):
    return re.findall(r'(?:href|action|src)="([^"]*)"', html)


def search(client, kind, value):
    # POST/redirect/GET: the results page is a GET naming the search by a token only.
    return client.post(
        "/customers/search", data={"kind": kind, "value": value}, follow_redirects=True
    )


# --- dashboard and search ------------------------------------------------------------------


def test_dashboard_has_one_post_search_form(client, logged_in):
    logged_in("agent")
    response = client.get("/customers")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'<form method="post" action="/customers/search"', html)
    for kind in ("name", "phone", "email", "identity_code"):
        assert f'<option value="{kind}"' in html
    assert 'name="csrf_token"' in html


def test_name_search_lists_matches_with_masked_codes_and_links(client, logged_in, make_customer):
    logged_in("agent")
    first = make_customer(
        given_names="Matti",
        family_name="Äijälä",
        identity_code=CODE,
        phone="040 123 4567",
        email="matti@example.fi",
        street_address="Katu 1",
        postal_code="33100",
        city="Tampere",
    )
    second = make_customer(given_names="Ville", family_name="Aijonen")
    response = search(client, "name", "aij")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 customers found" in html
    assert "Äijälä, Matti" in html
    assert "Aijonen, Ville" in html
    assert "150683-****" in html
    assert CODE not in html
    assert "040 1234567" in html
    assert "matti@example.fi" in html
    assert "Tampere" in html
    assert f'href="/customers/{first.public_id}"' in html
    assert f'href="/customers/{second.public_id}"' in html
    # A name search value may be shown again so the agent can refine it.
    assert 'value="aij"' in html


def test_search_without_matches_offers_to_create(client, logged_in):
    logged_in("agent")
    html = search(client, "email", "nobody@example.fi").get_data(as_text=True)
    assert "No customer found" in html
    assert 'href="/customers/new"' in html


def test_identity_code_search_keeps_the_code_out_of_urls_and_pages(
    client, logged_in, make_customer
):
    logged_in("agent")
    customer = make_customer(identity_code=CODE)
    response = search(client, "identity_code", CODE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"/customers/{customer.public_id}" in html
    assert CODE not in html
    assert CODE.lower() not in html
    assert response.request.path == "/customers"
    assert CODE not in response.request.query_string.decode()
    assert not any(CODE in url for url in urls_in(html))


def test_invalid_identity_code_search_is_not_echoed(client, logged_in):
    logged_in("agent")
    bad = identity_code("310299", "-", "234")  # impossible date
    response = search(client, "identity_code", bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "impossible birth date" in html
    assert "please type it again" in html
    assert bad not in html
    assert bad.lower() not in html
    assert bad[:6] not in html
    assert response.request.query_string == b""
    assert "Location" not in response.headers


def test_invalid_phone_search_shows_the_field_error(client, logged_in, db_session):
    logged_in("agent")
    response = search(client, "phone", "12")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="field-error"' in html
    assert "not a valid number" in html
    assert audit_rows(db_session, AuditAction.CUSTOMER_SEARCHED) == []


def test_search_is_audited_without_the_value(client, logged_in, make_customer, db_session):
    agent = logged_in("agent")
    make_customer(phone="040 123 4567")
    search(client, "phone", "040 123 4567")
    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_SEARCHED)
    assert event.actor_id == agent.id
    assert event.details == {"kind": "phone", "results": 1}
    assert event.request_id


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("Matti@Example.fi", "email"),
        (f"  {CODE.lower()} ", "identity_code"),
        ("040 123 4567", "phone"),
        ("+358 (0)40 123-4567", "phone"),
        ("Matti Meikäläinen", "name"),
        ("meikä", "name"),
        ("12345", "name"),  # too few digits for a phone number
    ],
)
def test_the_one_search_box_recognises_what_was_typed(typed, kind):
    assert search_module.recognise_kind(typed) == kind


def test_the_one_search_box_finds_by_any_identifier_and_never_echoes_a_code(
    client, logged_in, make_customer, db_session
):
    logged_in("agent")
    # make_customer's default name is Matti Meikäläinen.
    customer = make_customer(phone="040 123 4567", email="matti@example.fi", identity_code=CODE)
    assert 'value="any" selected' in client.get("/customers").get_data(as_text=True)
    for typed in ("meikäläinen ma", "0401234567", "MATTI@example.fi", f" {CODE} "):
        response = search(client, "any", typed)
        assert response.status_code == 200, typed
        html = response.get_data(as_text=True)
        assert f"/customers/{customer.public_id}" in html, typed
        assert CODE not in html
    kinds = [
        event.details["kind"] for event in audit_rows(db_session, AuditAction.CUSTOMER_SEARCHED)
    ]
    assert kinds == ["name", "phone", "email", "identity_code"]


def test_searching_needs_a_post(client, logged_in, make_customer, db_session):
    logged_in("agent")
    make_customer(family_name="Aho")
    # GET reaches the customer page route ("search" is no customer id): nothing is searched.
    response = client.get("/customers/search?kind=name&value=aho")
    assert response.status_code == 404
    assert "Aho" not in response.get_data(as_text=True)
    assert audit_rows(db_session, AuditAction.CUSTOMER_SEARCHED) == []


@pytest.mark.parametrize("path", ["/customers", "/customers/new", f"/customers/{UNKNOWN_ID}"])
def test_admins_see_no_customer_pages(client, logged_in, path):
    logged_in("admin")
    assert client.get(path).status_code == 403


def test_logged_out_users_are_sent_to_login(client):
    response = client.get("/customers")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- create --------------------------------------------------------------------------------


def test_new_customer_form_creates_and_redirects_to_the_page(client, logged_in, db_session):
    agent = logged_in("agent")
    form = client.get("/customers/new").get_data(as_text=True)
    assert 'name="identity_code"' in form
    assert 'name="csrf_token"' in form
    response = client.post(
        "/customers/new",
        data={
            "given_names": "Liisa",
            "family_name": "Äijälä",
            "identity_code": CODE,
            "phone": "040 123 4567",
            "email": "liisa@example.fi",
            "street_address": "Katu 1",
            "postal_code": "00100",
            "city": "Helsinki",
        },
    )
    assert response.status_code == 302
    customer = db_session.scalar(sa.select(Customer))
    assert customer.created_by_id == agent.id
    assert response.headers["Location"] == f"/customers/{customer.public_id}"
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Customer created" in html
    assert "Liisa Äijälä" in html
    assert "150683-****" in html
    assert CODE not in html


def test_invalid_new_customer_keeps_input_but_not_the_identity_code(client, logged_in, db_session):
    logged_in("agent")
    bad = identity_code("010130", "A", "234")  # born in 2030
    response = client.post(
        "/customers/new",
        data={
            "given_names": "Liisa",
            "family_name": "Aho",
            "phone": "12",
            "identity_code": bad,
            "email": "liisa@example.fi",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Phone number is not a valid number." in html
    assert "future" in html
    assert 'value="Liisa"' in html
    assert 'value="liisa@example.fi"' in html
    assert bad not in html
    assert "please type it again" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_duplicate_identity_code_is_refused_on_the_form(client, logged_in, make_customer):
    logged_in("agent")
    make_customer(identity_code=CODE)
    response = client.post(
        "/customers/new",
        data={"given_names": "Other", "family_name": "Person", "identity_code": CODE},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Another customer already has this identity code" in html
    assert CODE not in html


# --- customer page -------------------------------------------------------------------------


def test_customer_page_shows_facts_actions_and_timeline(
    client, logged_in, make_customer, db_session, clock
):
    agent = logged_in("agent")
    customer = make_customer(
        identity_code=CODE,
        phone="040 123 4567",
        email="m@example.fi",
        street_address="Katu 1",
        postal_code="00100",
        city="Helsinki",
    )
    contact = Contact(
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        occurred_at=clock.now - timedelta(hours=2),
        customer_id=customer.id,
        subject="Invoice question",
        created_at=clock.now,
    )
    db_session.add(contact)
    db_session.flush()
    db_session.add(
        IdentityVerification(
            contact_id=contact.id,
            checked_email=True,
            outcome=VerificationOutcome.VERIFIED,
            verified_by_id=agent.id,
            verified_at=clock.now,
        )
    )
    db_session.commit()

    response = client.get(f"/customers/{customer.public_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "150683-****" in html
    assert CODE not in html
    # A Finnish number as it is dialled here (test_a_foreign_number_stays_international).
    assert "040 1234567" in html
    assert "+358" not in html
    assert "Katu 1" in html
    assert f'action="/customers/{customer.public_id}/identity-code"' in html
    assert f'href="/customers/{customer.public_id}/edit"' in html
    assert f'href="/customers/{customer.public_id}/history"' in html
    assert f'href="/contacts/new?customer={customer.public_id}"' in html
    assert "Invoice question" in html
    assert 'class="badge verified"' in html
    # 09:00 UTC in November is 11:00 in Helsinki; the contact was two hours earlier.
    assert "23.11.2026 09:00" in html
    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_VIEWED)
    assert event.subject_id == customer.public_id


def test_unknown_customer_is_a_404_page(client, logged_in):
    logged_in("agent")
    for path in (
        f"/customers/{UNKNOWN_ID}",
        f"/customers/{UNKNOWN_ID}/edit",
        f"/customers/{UNKNOWN_ID}/history",
        "/customers/1",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "No such customer" in response.get_data(as_text=True)


# --- reveal --------------------------------------------------------------------------------


def test_reveal_shows_the_code_once_with_no_store(client, logged_in, make_customer, db_session):
    logged_in("agent")
    customer = make_customer(identity_code=CODE)
    response = client.post(
        f"/customers/{customer.public_id}/identity-code", data={"purpose": "Contract change"}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert html.count(CODE) == 1
    assert not any(CODE in url for url in urls_in(html))
    (event,) = audit_rows(db_session, AuditAction.IDENTITY_CODE_REVEALED)
    assert event.details == {"purpose": "Contract change"}
    # The next ordinary page view is masked again.
    assert CODE not in client.get(f"/customers/{customer.public_id}").get_data(as_text=True)


def test_reveal_without_purpose_is_refused(client, logged_in, make_customer, db_session):
    logged_in("agent")
    customer = make_customer(identity_code=CODE)
    response = client.post(
        f"/customers/{customer.public_id}/identity-code", data={"purpose": "why"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "at least 5 characters" in html
    assert CODE not in html
    assert audit_rows(db_session, AuditAction.IDENTITY_CODE_REVEALED) == []


def test_reveal_needs_post_and_a_stored_code(client, logged_in, make_customer):
    logged_in("agent")
    with_code = make_customer(identity_code=CODE)
    without = make_customer(given_names="Anna")
    assert client.get(f"/customers/{with_code.public_id}/identity-code").status_code == 405
    response = client.post(
        f"/customers/{without.public_id}/identity-code", data={"purpose": "Contract change"}
    )
    assert response.status_code == 404
    assert "No identity code is stored" in response.get_data(as_text=True)


# --- edit and history ----------------------------------------------------------------------


def test_edit_form_is_prefilled_without_the_code(client, logged_in, make_customer):
    logged_in("agent")
    customer = make_customer(
        identity_code=CODE,
        phone="040 123 4567",
        city="Helsinki",
        street_address="Katu 1",
        postal_code="00100",
    )
    html = client.get(f"/customers/{customer.public_id}/edit").get_data(as_text=True)
    assert 'value="Matti"' in html
    assert 'value="040 1234567"' in html
    assert 'value="Helsinki"' in html
    assert 'name="identity_code" value=""' in html
    assert "150683-****" in html
    assert CODE not in html
    assert 'name="reason"' in html


def test_edit_records_revisions_and_history_shows_them(
    client, logged_in, make_customer, db_session, clock
):
    agent = logged_in("agent")
    customer = make_customer(
        identity_code=CODE,
        phone="040 123 4567",
        city="Helsinki",
        street_address="Katu 1",
        postal_code="00100",
    )
    clock.advance(timedelta(minutes=10))  # within the session's idle timeout
    response = client.post(
        f"/customers/{customer.public_id}/edit",
        data={
            "given_names": "Matti",
            "family_name": "Meikäläinen",
            "street_address": "Katu 1",
            "postal_code": "02100",
            "city": "Espoo",
            "phone": "040 123 4567",
            "identity_code": identity_code("150683", "Y", "234"),
            "reason": "Customer moved; century sign was wrong",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/customers/{customer.public_id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Customer updated: Postal code, City, Identity code." in page
    assert "150683Y****" in page

    revisions = db_session.scalars(sa.select(CustomerRevision).order_by(CustomerRevision.id)).all()
    assert [r.field for r in revisions] == ["postal_code", "city", "identity_code"]
    assert {r.reason for r in revisions} == {"Customer moved; century sign was wrong"}
    assert {r.changed_by_id for r in revisions} == {agent.id}
    assert {r.changed_at for r in revisions} == {clock.now}

    history = client.get(f"/customers/{customer.public_id}/history")
    assert history.status_code == 200
    html = history.get_data(as_text=True)
    assert "Helsinki" in html
    assert "Espoo" in html
    assert "150683-****" in html
    assert "150683Y****" in html
    assert CODE not in html
    assert "Customer moved; century sign was wrong" in html
    assert agent.username in html
    assert len(audit_rows(db_session, AuditAction.CUSTOMER_HISTORY_VIEWED)) == 1


def test_edit_without_reason_comes_back_with_the_input(
    client, logged_in, make_customer, db_session
):
    logged_in("agent")
    customer = make_customer()
    response = client.post(
        f"/customers/{customer.public_id}/edit",
        data={
            "given_names": "Matti",
            "family_name": "Virtanen",
            "identity_code": OTHER_CODE,
            "reason": "",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Reason is required." in html
    assert 'value="Virtanen"' in html
    assert OTHER_CODE not in html
    assert "please type it again" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CustomerRevision)) == 0
    assert db_session.scalar(sa.select(Customer.family_name)) == "Meikäläinen"


def test_edit_without_changes_says_so(client, logged_in, make_customer):
    logged_in("agent")
    customer = make_customer()
    response = client.post(
        f"/customers/{customer.public_id}/edit",
        data={"given_names": "Matti", "family_name": "Meikäläinen", "reason": "Checked"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Nothing was changed." in response.get_data(as_text=True)


def test_dpo_can_read_history_but_admin_cannot(client, logged_in, make_customer, login, make_staff):
    customer = make_customer()
    logged_in("dpo")
    assert client.get(f"/customers/{customer.public_id}/history").status_code == 200
    login(client, make_staff("admin"))
    assert client.get(f"/customers/{customer.public_id}/history").status_code == 403


# --- POST/redirect/GET ------------------------------------------------------------------------


def test_a_search_redirects_to_its_results_named_by_a_token_only(
    client, logged_in, make_customer, db_session
):
    customer = make_customer(given_names="Liisa", family_name="Laine", phone="040 123 4567")
    logged_in("agent")

    posted = client.post("/customers/search", data={"kind": "phone", "value": "040 123 4567"})

    assert posted.status_code == 303
    location = posted.headers["Location"]
    assert re.fullmatch(r"/customers\?search=[A-Za-z0-9_-]{16}", location)
    assert "123" not in location
    shown = client.get(location)
    assert shown.status_code == 200
    assert f"/customers/{customer.public_id}" in shown.get_data(as_text=True)
    # Back or reload shows the results again, and that showing is audited again.
    again = client.get(location)
    assert f"/customers/{customer.public_id}" in again.get_data(as_text=True)
    searches = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CUSTOMER_SEARCHED)
    ).all()
    assert [event.details["kind"] for event in searches] == ["phone", "phone"]


def test_a_refused_search_is_answered_at_once_and_kept_nowhere(client, logged_in):
    logged_in("agent")
    refused = client.post("/customers/search", data={"kind": "phone", "value": "12"})
    assert refused.status_code == 422
    with client.session_transaction() as session:
        assert "kept_searches" not in session


def test_a_token_is_worthless_to_another_staff_member(
    app, client, logged_in, login, make_staff, make_customer
):
    customer = make_customer(phone="040 123 4567")
    logged_in("agent")
    location = client.post(
        "/customers/search", data={"kind": "phone", "value": "040 123 4567"}
    ).headers["Location"]
    with client.session_transaction() as session:
        kept = dict(session["kept_searches"])

    colleague = app.test_client()
    login(colleague, make_staff("agent"))
    # Even with the sealed search copied into their session, it is bound to its owner.
    with colleague.session_transaction() as session:
        session["kept_searches"] = kept
    page = colleague.get(location, follow_redirects=True).get_data(as_text=True)
    assert "no longer kept" in page
    assert f"/customers/{customer.public_id}" not in page

    unknown = client.get("/customers?search=nosuchtoken12345").get_data(as_text=True)
    assert "no longer kept" in unknown


def test_the_search_box_is_focused_and_searches_as_you_type_from_our_own_file(client, logged_in):
    logged_in("agent")
    html = client.get("/customers").get_data(as_text=True)
    assert re.search(r'<input type="search" id="value"[^>]* autofocus', html)
    assert "data-live-search" in html
    assert '<script src="/static/customer_search.js" defer></script>' in html
    assert client.get("/static/customer_search.js").status_code == 200
    # Before any search the results' place is there for the script, but hidden.
    assert '<section class="card" id="search-results" aria-live="polite" hidden>' in html


def test_a_foreign_number_stays_international(client, logged_in, make_customer):
    logged_in("agent")
    customer = make_customer(phone="+46 70 123 45 67")
    html = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert "+46 70 123 45 67" in html
