"""The unidentified queue through real requests: who each contact came from, the search that
keeps its values out of URLs, keyset paging, and the link form started with the candidates."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.contacts import queue
from cs_register.contacts.models import Contact
from cs_register.customers import restriction
from tests.cs_register.contacts.origins_support import add_call, add_chat, add_email
from tests.cs_register.contacts.support import audit_events
from tests.support.context import make_context

FINNISH = "+358401234567"
SWEDISH = "+46701234567"
IDENTITY_CODE = "131052-308T"


def hrefs(html: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"]*)"', html)


def contact_ids_in(html: str) -> list[str]:
    """The contacts a queue page lists, in order (each row links to its contact page)."""
    ids = re.findall(r'href="/contacts/([0-9a-f-]{36})"', html)
    return list(dict.fromkeys(ids))


# --- who it came from ------------------------------------------------------------------------


def test_the_queue_shows_the_number_the_sender_and_the_chatbots_identifiers(
    client, logged_in, database, clock
):
    at = clock.now - timedelta(hours=2)
    add_call(database, number=FINNISH, at=at, subject="Finnish caller")
    add_call(database, number=SWEDISH, at=at, subject="Swedish caller")
    add_call(database, number=None, at=at, subject="Hidden caller")
    add_email(database, sender="liisa@example.fi", at=at, subject="Mail")
    add_chat(database, email="chat@example.fi", phone="+358501112222", at=at, subject="Chatted")
    logged_in("agent")
    html = client.get("/contacts/unlinked").get_data(as_text=True)
    assert "040 1234567" in html  # a Finnish number as dialled here
    assert "+46 70 123 45 67" in html  # any other internationally
    assert "withheld" in html
    assert "liisa@example.fi" in html
    assert "chat@example.fi" in html
    assert "050 1112222" in html
    assert "23.11.2026 09:00" in html  # 07:00 UTC in Helsinki time
    assert "2 h" in html


# --- search ----------------------------------------------------------------------------------


def test_a_phone_search_redirects_to_a_token_and_lists_only_that_number(
    client, logged_in, database, clock, db_session
):
    at = clock.now - timedelta(hours=1)
    mine = add_call(database, number=FINNISH, at=at, subject="From the number")
    add_call(database, number=SWEDISH, at=at, subject="Another number")
    chat = add_chat(database, email=None, phone=FINNISH, at=at, subject="Chat with the number")
    logged_in("agent")
    response = client.post(
        "/contacts/unlinked/search", data={"kind": "any", "value": "040 123 4567"}
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    for shape in ("0401234567", "040", "358", "%2B358", "123"):
        assert shape not in location.replace(location.split("search=")[1], "")
    assert "search=" in location
    page = client.get(location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert contact_ids_in(html) == [mine, chat]
    assert "Another number" not in html
    # The value is on the page (the search box), never in one of its links.
    assert all("040" not in url and "358" not in url for url in hrefs(html))
    # Back, or a reload, returns to the same results: it is a plain GET.
    assert contact_ids_in(client.get(location).get_data(as_text=True)) == [mine, chat]
    [event] = audit_events(db_session, AuditAction.UNLINKED_CONTACTS_SEARCHED)
    assert event.details == {"kind": "phone", "results": 2}


def test_an_email_search_finds_the_sender_and_the_chatbot_customer(
    client, logged_in, database, clock
):
    at = clock.now - timedelta(hours=1)
    email = add_email(database, sender="liisa@example.fi", at=at)
    chat = add_chat(database, email="liisa@example.fi", phone=None, at=at)
    add_email(database, sender="liisa.other@example.fi", at=at)
    logged_in("agent")
    response = client.post(
        "/contacts/unlinked/search", data={"kind": "email", "value": " Liisa@Example.FI "}
    )
    assert response.status_code == 303
    assert "liisa" not in response.headers["Location"].lower()
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert contact_ids_in(html) == [email, chat]
    assert all("liisa" not in url for url in hrefs(html))


def test_a_search_token_means_nothing_to_another_staff_member(client, logged_in, database, clock):
    add_call(database, number=FINNISH, at=clock.now)
    logged_in("agent")
    location = client.post(
        "/contacts/unlinked/search", data={"kind": "phone", "value": FINNISH}
    ).headers["Location"]
    # Another agent on the same browser: the kept search is bound to whoever made it.
    logged_in("agent")
    html = client.get(location).get_data(as_text=True)
    assert "no longer available" in html
    assert "040 1234567" not in html.split("<table")[0]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"kind": "phone", "value": "12"}, "Phone number"),
        ({"kind": "email", "value": "not-an-address"}, "Email address is not valid"),
        ({"kind": "any", "value": ""}, "Type a phone number"),
        ({"kind": "fax", "value": "040 123 4567"}, "Choose what to search by"),
        ({"kind": "phone", "value": "040 123 4567", "channel": "pigeon"}, "Choose email"),
        ({"kind": "phone", "value": "4" * 300}, "too long"),
    ],
)
def test_a_bad_search_is_a_readable_422(client, logged_in, form, message):
    logged_in("agent")
    response = client.post("/contacts/unlinked/search", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_a_bad_channel_or_cursor_is_a_readable_422(client, logged_in):
    logged_in("agent")
    bad_channel = client.get("/contacts/unlinked?channel=pigeon")
    assert bad_channel.status_code == 422
    assert "Choose email, phone or chatbot" in bad_channel.get_data(as_text=True)
    bad_cursor = client.get("/contacts/unlinked?after=no-such-contact")
    assert bad_cursor.status_code == 422
    assert "start from the first page" in bad_cursor.get_data(as_text=True)


def test_the_channel_filter(client, logged_in, database, clock):
    call = add_call(database, number=FINNISH, at=clock.now)
    add_email(database, sender="liisa@example.fi", at=clock.now)
    logged_in("agent")
    html = client.get("/contacts/unlinked?channel=phone").get_data(as_text=True)
    assert contact_ids_in(html) == [call]


# --- paging ----------------------------------------------------------------------------------


def test_keyset_paging_walks_the_queue_both_ways_without_duplicates_or_gaps(
    client, logged_in, database, clock, monkeypatch
):
    monkeypatch.setattr(queue, "PAGE_SIZE", 4)
    start = clock.now - timedelta(days=1)
    # Pairs at the same instant: the id breaks the tie, so none repeats or goes missing.
    expected = [
        add_call(database, number=FINNISH, at=start + timedelta(minutes=i // 2)) for i in range(11)
    ]
    logged_in("agent")
    seen: list[str] = []
    url: str | None = "/contacts/unlinked"
    pages_forward: list[str] = []
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += contact_ids_in(html)
        pages_forward.append(url)
        later = re.search(r'rel="next" href="([^"]+)"', html)
        url = later.group(1).replace("&amp;", "&") if later else None
    assert seen == expected
    assert len(pages_forward) == 3
    # And back from the last page.
    html = client.get(pages_forward[-1]).get_data(as_text=True)
    back: list[str] = contact_ids_in(html)
    while earlier := re.search(r'rel="prev" href="([^"]+)"', html):
        html = client.get(earlier.group(1).replace("&amp;", "&")).get_data(as_text=True)
        back = contact_ids_in(html) + back
    assert back == expected


def test_a_contact_linked_between_pages_shifts_nothing(
    client, logged_in, database, clock, monkeypatch, make_customer
):
    monkeypatch.setattr(queue, "PAGE_SIZE", 3)
    start = clock.now - timedelta(days=1)
    ids = [add_call(database, number=None, at=start + timedelta(minutes=i)) for i in range(7)]
    customer = make_customer()
    logged_in("agent")
    html = client.get("/contacts/unlinked").get_data(as_text=True)
    assert contact_ids_in(html) == ids[:3]
    later = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    # Someone links the first contact of page one, and the next page's first.
    for public_id in (ids[0], ids[3]):
        client.post(
            f"/contacts/{public_id}/link", data={"action": "link", "customer": customer.public_id}
        )
    assert contact_ids_in(client.get(later).get_data(as_text=True)) == ids[4:7]


# --- restricted customers --------------------------------------------------------------------


def test_a_contact_held_for_a_restricted_customer_stays_out_of_an_agents_queue_and_search(
    client, logged_in, database, clock, make_customer, make_staff, login
):
    customer = make_customer(phone=FINNISH)
    with database.unit_of_work() as session:
        dpo = make_staff("dpo")
        restriction.restrict(
            make_context(session, dpo, clock.now),
            customer_public_id=customer.public_id,
            reason="Rectification pending",
        )
    held = add_call(database, number=FINNISH, at=clock.now, held_for=customer.id)
    logged_in("agent")
    assert held not in client.get("/contacts/unlinked").get_data(as_text=True)
    location = client.post(
        "/contacts/unlinked/search", data={"kind": "phone", "value": FINNISH}
    ).headers["Location"]
    assert held not in client.get(location).get_data(as_text=True)
    login(client, dpo)
    assert held in client.get("/contacts/unlinked").get_data(as_text=True)


# --- the link form ---------------------------------------------------------------------------


def test_the_link_form_starts_with_everyone_sharing_the_callers_number(
    client, logged_in, database, clock, make_customer, db_session
):
    make_customer(
        given_names="Aino", family_name="Aalto", phone=FINNISH, identity_code=IDENTITY_CODE
    )
    make_customer(given_names="Eero", family_name="Aalto", phone="040 123 4567")
    make_customer(given_names="Other", family_name="Person", phone=SWEDISH)
    contact = add_call(database, number=FINNISH, at=clock.now)
    logged_in("agent")
    html = client.get(f"/contacts/{contact}/link").get_data(as_text=True)
    assert "Aino Aalto" in html
    assert "Eero Aalto" in html
    assert "Other Person" not in html
    assert "131052-****" in html
    assert IDENTITY_CODE not in html
    assert html.count('name="customer"') == 2
    assert "040 1234567" in html  # who it came from, and the search box started with it
    # Nothing was linked; the search that found them is audited like a typed one.
    assert (
        db_session.scalar(sa.select(Contact.customer_id).where(Contact.public_id == contact))
        is None
    )
    [search] = audit_events(db_session, AuditAction.CUSTOMER_SEARCHED)
    assert search.details == {"kind": "phone", "results": 2}


def test_the_link_form_of_an_email_starts_with_the_senders_customer(
    client, logged_in, database, clock, make_customer
):
    make_customer(given_names="Liisa", family_name="Laine", email="liisa@example.fi")
    contact = add_email(database, sender="liisa@example.fi", at=clock.now)
    withheld = add_call(database, number=None, at=clock.now)
    logged_in("agent")
    html = client.get(f"/contacts/{contact}/link").get_data(as_text=True)
    assert "Liisa Laine" in html
    # A withheld number has nothing to match: the manual search only.
    html = client.get(f"/contacts/{withheld}/link").get_data(as_text=True)
    assert "withheld" in html
    assert 'name="customer"' not in html
    assert 'name="action" value="search"' in html
