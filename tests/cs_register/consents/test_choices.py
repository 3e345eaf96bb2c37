"""Prohibitions and consents: recorded by customer service on the customer page, shown there,
told to the marketing system through its own feed (every change exactly once), part of the
access export, gone with an erasure, and keeping the customer record while they matter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.consents.models import ChoiceChange, CustomerChoice
from cs_register.contacts.retention import ContactRetention
from cs_register.customers.models import Customer
from cs_register.customers.personal_data import data_subject
from cs_register.integrations import services as token_services
from cs_register.personal_data import registry
from cs_register.privacy.data_retention import sweep_customer_service_data
from tests.support.context import make_context

FEED = "/api/v1/marketing/changes"


@pytest.fixture
def customer(make_customer):
    return make_customer(phone="0401234567", email="matti@example.fi")


@pytest.fixture
def agent(logged_in):
    return logged_in("agent")


@pytest.fixture
def tokens(database, clock) -> dict[str, str]:
    raw = {}
    with database.unit_of_work() as session:
        ctx = make_context(session, None, clock.now)
        _, raw["marketing"] = token_services.create_token(ctx, name="crm", scope="marketing")
        _, raw["telephony"] = token_services.create_token(ctx, name="pbx")
    return raw


def _record(client, customer, choice="prohibition:direct_marketing", channel="phone", **extra):
    return client.post(
        f"/customers/{customer.public_id}/choices",
        data={"choice": choice, "channel": channel, **extra},
    )


def _choices(database) -> list[CustomerChoice]:
    with database.session_factory() as session:
        return list(session.scalars(sa.select(CustomerChoice).order_by(CustomerChoice.id)))


def _feed(client, token, **query: Any):
    return client.get(FEED, query_string=query, headers={"Authorization": f"Bearer {token}"})


def test_an_agent_records_a_prohibition_and_the_customer_page_shows_it(
    client, agent, customer, database
):
    response = _record(client, customer)
    assert response.status_code == 303
    (choice,) = _choices(database)
    assert (choice.kind.value, choice.topic, choice.started_channel.value) == (
        "prohibition",
        "direct_marketing",
        "phone",
    )
    assert choice.started_by_id == agent.id
    assert choice.in_force
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert "Direct marketing is prohibited" in page
    # Once in force, it is no longer offered; the consents still are.
    assert 'value="prohibition:direct_marketing"' not in page
    assert 'value="consent:newsletter"' in page
    with database.session_factory() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CUSTOMER_CHOICE_RECORDED)
        ).one()
    assert event.details == {"kind": "prohibition", "topic": "direct_marketing", "channel": "phone"}
    assert event.actor_id == agent.id


def test_recorded_during_a_contact_of_the_customer_only(
    client, agent, customer, database, make_customer, clock
):
    from cs_register.contacts import services as contact_services

    other = make_customer(given_names="Maija")
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(type(agent), agent.id), clock.now)
        theirs = contact_services.log_contact(
            ctx,
            form={"channel": "phone", "direction": "inbound", "subject": "Marketing calls"},
            customer_public_id=customer.public_id,
        )
        not_theirs = contact_services.log_contact(
            ctx,
            form={"channel": "phone", "direction": "inbound", "subject": "Other"},
            customer_public_id=other.public_id,
        )
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert f'value="{theirs.public_id}"' in page
    assert not_theirs.public_id not in page

    refused = _record(client, customer, contact=not_theirs.public_id)
    assert refused.status_code == 303
    assert _choices(database) == []
    followed = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Choose one of this customer&#39;s contacts." in followed

    assert _record(client, customer, contact=theirs.public_id).status_code == 303
    (choice,) = _choices(database)
    assert choice.contact_id == theirs.id


@pytest.mark.parametrize(
    ("choice", "channel", "message"),
    [
        ("prohibition:cold_calling", "phone", "Choose a prohibition or a consent from the list."),
        ("nonsense", "phone", "Choose a prohibition or a consent."),
        ("consent:newsletter", "carrier pigeon", "Say how the customer told us."),
    ],
)
def test_bad_input_is_refused_with_a_readable_message_and_nothing_stored(
    client, agent, customer, database, choice, channel, message
):
    response = _record(client, customer, choice=choice, channel=channel)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert message.replace("'", "&#39;") in page
    assert _choices(database) == []
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ChoiceChange)) == 0


def test_the_same_prohibition_twice_is_a_conflict(client, agent, customer, database):
    _record(client, customer)
    again = _record(client, customer)
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "This prohibition is already in force for the customer." in page
    assert len(_choices(database)) == 1


def test_lifting_ends_it_and_it_can_be_recorded_again(
    client, agent, customer, database, clock, login
):
    _record(client, customer)
    (choice,) = _choices(database)
    clock.advance(timedelta(days=3))
    login(client, agent)  # a new working day, a new session
    url = f"/customers/{customer.public_id}/choices/{choice.public_id}/end"
    assert client.post(url, data={"channel": "email"}).status_code == 303
    (ended,) = _choices(database)
    assert ended.ended_at == clock.now
    assert ended.ended_channel.value == "email"
    second = client.post(url, data={"channel": "email"})
    assert "This has already ended." in client.get(second.headers["Location"]).get_data(
        as_text=True
    )
    _record(client, customer)
    assert [c.in_force for c in _choices(database)] == [False, True]


def test_roles_that_do_not_serve_customers_cannot_record(client, logged_in, customer, database):
    logged_in("dpo")
    assert _record(client, customer).status_code == 403
    assert _choices(database) == []


# --- the marketing feed ------------------------------------------------------------------


def test_the_feed_lists_changes_with_the_customers_contact_points(client, agent, customer, tokens):
    _record(client, customer)
    _record(client, customer, choice="consent:newsletter", channel="chatbot")
    body = _feed(client, tokens["marketing"]).get_json()
    assert [(c["change"], c["kind"], c["topic"], c["channel"]) for c in body["changes"]] == [
        ("started", "prohibition", "direct_marketing", "phone"),
        ("started", "consent", "newsletter", "chatbot"),
    ]
    assert body["changes"][0]["customer"] == {
        "id": customer.public_id,
        "email": "matti@example.fi",
        "phone": "+358401234567",
    }
    assert body["next_cursor"] == body["changes"][-1]["cursor"]
    assert body["has_more"] is False


def test_the_cursor_returns_every_change_exactly_once(
    client, agent, customer, tokens, database, clock
):
    seen: list[str] = []
    cursor = "0"
    for round_ in range(4):
        # Changes keep arriving between reads.
        for topic in ("newsletter", "customer_surveys"):
            _record(client, customer, choice=f"consent:{topic}")
            for choice in _choices(database):
                if choice.in_force and choice.topic == topic:
                    client.post(
                        f"/customers/{customer.public_id}/choices/{choice.public_id}/end",
                        data={"channel": "phone"},
                    )
            clock.advance(timedelta(seconds=1))
        while True:
            body = _feed(client, tokens["marketing"], after=cursor, limit=3).get_json()
            seen += [change["cursor"] for change in body["changes"]]
            assert body["next_cursor"] >= cursor or len(body["next_cursor"]) > len(cursor)
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
        assert len(seen) == 4 * (round_ + 1)
    with database.session_factory() as session:
        every = [
            str(i) for i in session.scalars(sa.select(ChoiceChange.id).order_by(ChoiceChange.id))
        ]
    assert seen == every
    assert len(set(seen)) == len(seen)
    # Nothing new: the same cursor back, and an empty page.
    again = _feed(client, tokens["marketing"], after=cursor).get_json()
    assert (again["changes"], again["next_cursor"]) == ([], cursor)


def test_each_read_is_audited_with_its_range(client, agent, customer, tokens, database):
    _record(client, customer)
    _feed(client, tokens["marketing"])
    with database.session_factory() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.MARKETING_FEED_READ)
        ).one()
    assert event.actor_label == "integration:crm"
    assert event.details["changes"] == 1
    assert event.details["after"] == 0


def test_scopes_keep_each_integration_to_its_own_endpoints(client, tokens):
    assert _feed(client, tokens["telephony"]).status_code == 403
    refused = client.post(
        "/api/v1/calls",
        json={"external_call_id": "x-1"},
        headers={"Authorization": f"Bearer {tokens['marketing']}"},
    )
    assert refused.status_code == 403
    assert refused.content_type == "application/problem+json"
    assert _feed(client, "csr_not-a-real-token").status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        {"after": "-1"},
        {"after": "abc"},
        {"after": "01"},
        {"limit": "0"},
        {"limit": "501"},
        {"x": "1"},
    ],
)
def test_a_bad_query_is_a_problem_not_a_guess(client, tokens, query):
    response = _feed(client, tokens["marketing"], **query)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


# --- through the registry: export, erasure, retention ---------------------------------------


def test_choices_are_in_what_the_register_holds_about_the_customer(
    app, client, agent, customer, database, clock
):
    _record(client, customer)
    with app.app_context(), database.session_factory() as session:
        found = registry().find(make_context(session, None, clock.now), data_subject(customer))
    mine = [f for f in found if f.source == "consents"]
    assert {f.category for f in mine} == {
        "Prohibition or consent",
        "Change told to the marketing system",
    }
    choice = next(f for f in mine if f.category == "Prohibition or consent")
    assert ("What", "Direct marketing") in choice.fields


def test_an_erasure_takes_the_choices_and_tells_the_marketing_system(
    app, client, agent, customer, database, clock, tokens
):
    _record(client, customer)
    first = _feed(client, tokens["marketing"]).get_json()["next_cursor"]
    with app.app_context(), database.unit_of_work() as session:
        ctx = make_context(session, None, clock.now)
        subject = data_subject(session.get(Customer, customer.id))
        registry().erase(ctx, registry().erasure_scope(session, subject))
    assert _choices(database) == []
    after = _feed(client, tokens["marketing"], after=first).get_json()["changes"]
    assert [(c["change"], c["customer"]) for c in after] == [
        ("customer_removed", {"id": customer.public_id, "email": None, "phone": None})
    ]
    with database.session_factory() as session:
        left = session.scalars(sa.select(ChoiceChange.change)).all()
    assert [change.value for change in left] == ["customer_removed"]


def test_a_prohibition_in_force_keeps_the_customer_and_an_ended_one_for_the_period(
    app, client, agent, customer, database, clock, login
):
    _record(client, customer)
    (choice,) = _choices(database)

    def sweep(now):
        with app.app_context():
            return sweep_customer_service_data(
                database, registry(), now=now, policy=ContactRetention()
            )

    much_later = clock.now + timedelta(days=400)
    kept = sweep(much_later)
    assert (kept.customers_removed, kept.customers_kept) == (0, 1)

    clock.set(much_later)
    login(client, agent)
    client.post(
        f"/customers/{customer.public_id}/choices/{choice.public_id}/end", data={"channel": "phone"}
    )
    due = much_later + timedelta(days=180)
    assert sweep(due - timedelta(seconds=1)).customers_removed == 0
    assert sweep(due).customers_removed == 1
    with database.session_factory() as session:
        assert session.get(Customer, customer.id) is None
        assert [c.value for c in session.scalars(sa.select(ChoiceChange.change))] == [
            "customer_removed"
        ]
    assert _choices(database) == []


def test_removal_notices_are_dropped_after_their_period(database, clock):
    from cs_register.consents import feed

    with database.unit_of_work() as session:
        feed.forget_customer(session, customer_public_id="gone-1", at=clock.now)
        feed.append_change(
            session,
            customer_public_id="still-here",
            change=feed.ChangeKind.STARTED,
            at=clock.now,
        )
    period = timedelta(days=feed.REMOVAL_NOTICE_DAYS)
    with database.unit_of_work() as session:
        assert feed.remove_old_notices(session, now=clock.now + period - timedelta(seconds=1)) == 0
    with database.unit_of_work() as session:
        assert feed.remove_old_notices(session, now=clock.now + period) == 1
    with database.session_factory() as session:
        assert session.scalars(sa.select(ChoiceChange.customer_public_id)).all() == ["still-here"]


def test_a_second_writer_waits_so_entries_become_visible_in_number_order(database, clock):
    """Entry numbers must become visible in order: while one change is uncommitted, another
    cannot take a higher number and commit before it (a reader would skip the first)."""
    import threading

    from cs_register.consents import feed

    first = database.session_factory()
    entry = feed.append_change(
        first, customer_public_id="first", change=feed.ChangeKind.STARTED, at=clock.now
    )
    second_done = threading.Event()
    numbers: dict[str, int] = {"first": entry.id}

    def second_writer() -> None:
        with database.unit_of_work() as session:
            numbers["second"] = feed.append_change(
                session, customer_public_id="second", change=feed.ChangeKind.STARTED, at=clock.now
            ).id
        second_done.set()

    worker = threading.Thread(target=second_writer)
    worker.start()
    try:
        # The second writer is blocked behind the first one's transaction.
        assert not second_done.wait(timeout=0.5)
        with database.read_only() as reader:
            assert reader.scalars(sa.select(ChoiceChange.id)).all() == []
        first.commit()
    finally:
        first.close()
    worker.join(timeout=30)
    assert second_done.is_set()
    assert numbers["second"] > numbers["first"]
