"""The contacts console through real requests: log, verify, link, the unidentified queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact, VerificationOutcome
from cs_register.customers.models import Customer
from tests.cs_register.contacts.support import audit_events, count_contacts

IDENTITY_CODE = "131052-308T"


def only_contact(db_session) -> Contact:
    return db_session.scalars(sa.select(Contact)).one()


def new_contact_form(**overrides: str) -> dict[str, str]:
    form = {
        "channel": "email",
        "direction": "inbound",
        "occurred_at": "2026-11-23T10:45",
        "subject": "Address change",
        "notes": "Moving in December.",
        "verification_outcome": "not_attempted",
    }
    form.update(overrides)
    return form


# --- logging a contact -----------------------------------------------------------------------


def test_new_contact_form_has_the_verification_panel(client, logged_in):
    logged_in("agent")
    page = client.get("/contacts/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("name", "email", "phone", "identity_code", "address"):
        assert f'name="verify_{name}" value="1"' in html
    assert 'value="not_attempted" checked' in html
    assert 'name="csrf_token"' in html
    assert "logged as unidentified" in html


def test_agent_logs_a_contact_for_a_customer(client, logged_in, make_customer, db_session):
    customer = make_customer(given_names="Liisa", family_name="Laine")
    logged_in("agent")
    form_page = client.get(f"/contacts/new?customer={customer.public_id}")
    assert "Liisa Laine" in form_page.get_data(as_text=True)

    response = client.post(
        "/contacts/new",
        data=new_contact_form(
            customer=customer.public_id, verification_outcome="verified", verify_email="1"
        ),
    )
    assert response.status_code == 302
    contact = only_contact(db_session)
    assert response.headers["Location"] == f"/contacts/{contact.public_id}"
    assert contact.customer_id == customer.id
    # 10:45 in Helsinki in November is 08:45 UTC.
    assert contact.occurred_at == datetime(2026, 11, 23, 8, 45, tzinfo=UTC)
    assert contact.verifications[0].outcome is VerificationOutcome.VERIFIED
    stored_customer = db_session.get(Customer, customer.id)
    assert stored_customer.last_contact_at == contact.occurred_at

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Address change" in page
    assert "Moving in December." in page
    assert "23.11.2026 10:45" in page  # shown in Helsinki time
    assert f"/customers/{customer.public_id}" in page
    assert "Liisa Laine" in page
    assert "verified" in page
    assert "Link to customer" not in page


def test_agent_logs_an_unidentified_contact(client, logged_in, db_session):
    logged_in("agent")
    response = client.post("/contacts/new", data=new_contact_form(channel="chatbot"))
    assert response.status_code == 302
    contact = only_contact(db_session)
    assert contact.customer_id is None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Unidentified" in page
    assert f"/contacts/{contact.public_id}/link" in page


def test_invalid_form_is_shown_again_and_nothing_is_written(client, logged_in, db_session):
    logged_in("agent")
    response = client.post(
        "/contacts/new",
        data=new_contact_form(
            subject="", occurred_at="2026-12-24T10:00", verification_outcome="verified"
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Subject is required." in html
    assert "Time of contact cannot be in the future." in html
    assert "needs at least one checked identifier" in html
    # The agent's other input is kept.
    assert "Moving in December." in html
    assert 'value="verified" checked' in html
    assert count_contacts(db_session) == 0
    assert audit_events(db_session, AuditAction.CONTACT_CREATED) == []
    assert audit_events(db_session, AuditAction.IDENTITY_VERIFIED) == []


@pytest.mark.parametrize("field", ["subject", "notes"])
def test_a_refused_form_never_echoes_an_identity_code(client, logged_in, db_session, field):
    logged_in("agent")
    typed = f"Customer said {IDENTITY_CODE} twice, spaced 131052 - 308 T"
    response = client.post("/contacts/new", data=new_contact_form(**{field: typed}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "identity code" in html
    assert IDENTITY_CODE not in html
    assert "308T" not in html
    assert "308 T" not in html
    # The rest of what the agent typed is kept, the code marked where it was.
    assert "Customer said [identity code removed] twice" in html
    assert count_contacts(db_session) == 0


def test_a_phone_search_holding_an_identity_code_is_not_echoed(client, logged_in):
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    failed = client.post(
        f"{location}/link", data={"action": "search", "kind": "phone", "value": IDENTITY_CODE}
    )
    assert failed.status_code in (200, 422)
    assert IDENTITY_CODE not in failed.get_data(as_text=True)


def test_unknown_customer_in_the_form_link_is_not_found(client, logged_in):
    logged_in("agent")
    assert client.get("/contacts/new?customer=nobody").status_code == 404


def test_admin_gets_403_everywhere(client, logged_in, make_customer, db_session):
    customer = make_customer()
    logged_in("admin")
    assert client.get("/contacts/new").status_code == 403
    assert client.post("/contacts/new", data=new_contact_form()).status_code == 403
    assert client.get("/contacts/unlinked").status_code == 403
    assert client.get(f"/contacts/{customer.public_id}").status_code == 403
    assert count_contacts(db_session) == 0


def test_anonymous_is_sent_to_login(client):
    response = client.get("/contacts/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- the contact page and later verifications ------------------------------------------------


def test_contact_page_is_audited_and_unknown_contact_is_404(client, logged_in, db_session):
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    client.get(location)
    contact = only_contact(db_session)
    [viewed] = audit_events(db_session, AuditAction.CONTACT_VIEWED)
    assert viewed.subject_id == contact.public_id
    assert client.get("/contacts/00000000-0000-0000-0000-000000000000").status_code == 404


def test_later_verification_through_the_contact_page(client, logged_in, db_session, clock):
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    clock.advance(timedelta(minutes=20))
    response = client.post(
        f"{location}/verifications",
        data={"verification_outcome": "verified", "verify_name": "1", "verify_address": "1"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == location
    page = client.get(location).get_data(as_text=True)
    assert "Name, Address" in page
    assert "23.11.2026 11:20" in page
    outcomes = [v.outcome for v in only_contact(db_session).verifications]
    assert outcomes == [VerificationOutcome.NOT_ATTEMPTED, VerificationOutcome.VERIFIED]


def test_invalid_later_verification_is_422_with_the_field_message(client, logged_in, db_session):
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    response = client.post(f"{location}/verifications", data={"verification_outcome": "failed"})
    assert response.status_code == 422
    assert "needs at least one checked identifier" in response.get_data(as_text=True)
    assert len(only_contact(db_session).verifications) == 1
    assert len(audit_events(db_session, AuditAction.IDENTITY_VERIFIED)) == 1


def test_dpo_reads_the_contact_page_without_agent_forms(
    client, logged_in, make_staff, login, db_session
):
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    login(client, make_staff("dpo"))
    page = client.get(location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Record verification" not in html
    assert "Link to customer" not in html
    assert (
        client.post(
            f"{location}/verifications",
            data={"verification_outcome": "verified", "verify_name": "1"},
        ).status_code
        == 403
    )


# --- linking -----------------------------------------------------------------------------------


def test_link_flow_offers_everyone_sharing_the_phone_and_links_the_chosen_one(
    client, logged_in, make_customer, db_session
):
    first = make_customer(
        given_names="Aino",
        family_name="Aalto",
        phone="040 765 4321",
        identity_code=IDENTITY_CODE,
        street_address="Hämeenkatu 1",
        postal_code="33100",
        city="Tampere",
    )
    second = make_customer(given_names="Eero", family_name="Aalto", phone="+358 40 7654321")
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    link_url = f"{location}/link"

    search_page = client.get(link_url)
    assert search_page.status_code == 200
    assert 'method="post"' in search_page.get_data(as_text=True)

    results = client.post(
        link_url, data={"action": "search", "kind": "phone", "value": "0407654321"}
    )
    assert results.status_code == 200
    html = results.get_data(as_text=True)
    assert "Aino Aalto" in html
    assert "Eero Aalto" in html
    assert "131052-****" in html
    assert IDENTITY_CODE not in html
    assert "Tampere" in html
    assert html.count('name="customer"') == 2
    # Searching linked nobody.
    assert only_contact(db_session).customer_id is None
    [search] = audit_events(db_session, AuditAction.CUSTOMER_SEARCHED)
    assert search.details == {"kind": "phone", "results": 2}

    linked = client.post(link_url, data={"action": "link", "customer": second.public_id})
    assert linked.status_code == 302
    assert linked.headers["Location"] == location
    db_session.expire_all()
    contact = only_contact(db_session)
    assert contact.customer_id == second.id
    assert contact.linked_at is not None
    assert db_session.get(Customer, second.id).last_contact_at == contact.occurred_at
    assert db_session.get(Customer, first.id).last_contact_at is None
    assert (
        db_session.scalar(
            sa.select(sa.func.count()).select_from(Contact).where(Contact.customer_id == first.id)
        )
        == 0
    )
    [event] = audit_events(db_session, AuditAction.CONTACT_LINKED)
    assert event.details == {"customer": second.public_id}

    page = client.get(location).get_data(as_text=True)
    assert "Contact linked to the chosen customer." in page
    assert "Eero Aalto" in page


def test_relinking_a_linked_contact_is_a_409_page(client, logged_in, make_customer, db_session):
    first = make_customer(given_names="Aino")
    second = make_customer(given_names="Eero")
    logged_in("agent")
    location = client.post(
        "/contacts/new", data=new_contact_form(customer=first.public_id)
    ).headers["Location"]
    response = client.post(
        f"{location}/link", data={"action": "link", "customer": second.public_id}
    )
    assert response.status_code == 409
    assert "already linked" in response.get_data(as_text=True)
    assert only_contact(db_session).customer_id == first.id
    assert audit_events(db_session, AuditAction.CONTACT_LINKED) == []
    # The link page itself says so instead of offering a search.
    page = client.get(f"{location}/link").get_data(as_text=True)
    assert "already linked" in page
    assert 'name="action" value="search"' not in page


def test_identity_code_search_is_never_echoed_back(client, logged_in, make_customer):
    make_customer(identity_code=IDENTITY_CODE)
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    found = client.post(
        f"{location}/link",
        data={"action": "search", "kind": "identity_code", "value": IDENTITY_CODE},
    )
    assert found.status_code == 200
    assert "131052-****" in found.get_data(as_text=True)
    assert IDENTITY_CODE not in found.get_data(as_text=True)
    wrong = "131052-308A"
    failed = client.post(
        f"{location}/link", data={"action": "search", "kind": "identity_code", "value": wrong}
    )
    assert failed.status_code == 422
    assert wrong not in failed.get_data(as_text=True)
    assert "check character" in failed.get_data(as_text=True)


def test_link_page_is_for_staff_who_log_contacts(client, logged_in, make_staff, login):
    logged_in("agent")
    location = client.post("/contacts/new", data=new_contact_form()).headers["Location"]
    login(client, make_staff("dpo"))
    assert client.get(f"{location}/link").status_code == 403


# --- the unidentified queue ------------------------------------------------------------------


def test_unlinked_queue_lists_only_unidentified_contacts(client, logged_in, make_customer, clock):
    customer = make_customer()
    logged_in("agent")
    client.post(
        "/contacts/new",
        data=new_contact_form(subject="Unknown caller A", occurred_at="2026-11-23T08:00"),
    )
    client.post(
        "/contacts/new", data=new_contact_form(subject="Known caller", customer=customer.public_id)
    )
    client.post(
        "/contacts/new",
        data=new_contact_form(subject="Unknown caller B", occurred_at="2026-11-20T09:00"),
    )
    clock.advance(timedelta(minutes=1))
    page = client.get("/contacts/unlinked")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Known caller" not in html
    assert html.index("Unknown caller B") < html.index("Unknown caller A")
    assert "3 d" in html  # 20.11. 09:00 to 23.11. 11:01 Helsinki time
    assert "3 h" in html  # 08:00 to 11:01


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(seconds=30), "0 min"),
        (timedelta(minutes=59), "59 min"),
        (timedelta(hours=47), "47 h"),
        (timedelta(days=2), "2 d"),
        (timedelta(minutes=-3), "0 min"),
    ],
)
def test_ages_in_the_queue_are_short(age, text):
    from cs_register.contacts.queue_views import format_age

    assert format_age(age) == text
