"""The chatbot handover queue: claiming, assigning, releasing and closing with an outcome, the
table the page's script refreshes, and what each step leaves in the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact
from cs_register.errors import Conflict, PermissionDenied, ValidationFailed
from cs_register.intake import handover_steps, handovers
from cs_register.intake.models import ChatbotConversation, HandoverOutcome
from tests.cs_register.intake.conftest import PostChatbot, conversation
from tests.support.context import make_context

NOTE = "Explained the invoice and sent a corrected one."


def audit_rows(database, action: AuditAction) -> list[AuditEvent]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def stored(database, contact_id: str) -> ChatbotConversation:
    with database.unit_of_work() as session:
        row = session.scalar(
            sa.select(ChatbotConversation)
            .join(Contact, Contact.id == ChatbotConversation.contact_id)
            .where(Contact.public_id == contact_id)
        )
        assert row is not None
        session.expunge(row)
        return row


@pytest.fixture
def handed_over(post_chatbot: PostChatbot, secret) -> Any:
    """`handed_over(**payload)`: a new handed-over conversation's contact id."""

    def _make(**overrides: Any) -> str:
        body = post_chatbot(conversation(handover=True, **overrides), secret=secret).get_json()
        return str(body["contact_id"])

    return _make


def close(client, contact_id: str, **form: str):
    data = {"outcome": "resolved", "outcome_note": NOTE} | form
    return client.post(f"/handovers/{contact_id}/close", data=data)


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_lists_open_handovers_oldest_first_with_their_first_line(
    handed_over, post_chatbot: PostChatbot, secret, client, clock, logged_in
):
    first = handed_over(language="sv", summary="Asks about an invoice.\nSecond line.")
    clock.advance(timedelta(minutes=10))
    second = handed_over(summary=None)
    post_chatbot(conversation(handover=False), secret=secret)
    clock.advance(timedelta(minutes=5))

    logged_in("agent")
    html = client.get("/handovers").text
    assert html.index(first) < html.index(second)
    assert "15 min" in html
    assert "5 min" in html
    assert "Chatbot conversation (sv)" in html
    assert "Asks about an invoice." in html
    assert "Second line." not in html
    # Without a summary, the customer's first words to the bot.
    assert "Hei, laskussani on virhe." in html
    # What the customer said about themselves stays on the contact page.
    assert "Maija Virtanen" not in html
    assert html.count(">Claim</button>") == 2
    assert 'src="/static/handovers.js"' in html
    assert 'href="/handovers?show=open" id="handover-reload"' in html
    assert "<script>" not in html


def test_the_first_line_is_cut_and_skips_what_the_customer_said_about_themselves():
    notes = "Given to the chatbot:\nName: Maija\n\nTranscript:\nbot: Hi\ncustomer: " + "x" * 300
    line = handovers.first_line(notes)
    assert line.startswith("xxx")
    assert len(line) == handovers.FIRST_LINE_LENGTH
    assert handovers.first_line(None) == ""


def test_filters_waiting_mine_open_and_closed_today(
    handed_over, client, app, login, make_staff, logged_in
):
    mine, theirs, waiting, done = (handed_over() for _ in range(4))
    colleague = make_staff("agent")
    other = app.test_client()
    login(other, colleague)
    assert other.post(f"/handovers/{theirs}/claim").status_code == 303
    agent = logged_in("agent")
    assert client.post(f"/handovers/{mine}/claim").status_code == 303
    assert close(client, done).status_code == 303

    def shown(show: str) -> set[str]:
        html = client.get(f"/handovers/table?show={show}").text
        return {cid for cid in (mine, theirs, waiting, done) if cid in html}

    assert shown("waiting") == {waiting}
    assert shown("mine") == {mine}
    assert shown("open") == {mine, theirs, waiting}
    assert shown("closed_today") == {done}
    assert shown("nonsense") == {mine, theirs, waiting}
    page = client.get("/handovers?show=mine").text
    assert '<a href="/handovers?show=mine" aria-current="page">Mine</a>' in page
    assert colleague.display_name in client.get("/handovers").text
    assert agent.id is not None


def test_closed_today_starts_at_helsinki_midnight(handed_over, client, clock, logged_in):
    contact_id = handed_over()
    logged_in("agent")
    close(client, contact_id)
    assert contact_id in client.get("/handovers/table?show=closed_today").text
    clock.advance(timedelta(days=1))
    assert contact_id not in client.get("/handovers/table?show=closed_today").text


def test_the_table_fragment_is_the_agents_view_of_the_open_ones(handed_over, client, logged_in):
    open_one, closed_one = handed_over(), handed_over()
    logged_in("agent")
    close(client, closed_one)
    response = client.get("/handovers/table")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    assert open_one in html
    assert closed_one not in html
    assert 'id="handover-rows" data-state="' in html
    assert "<html" not in html  # a fragment, not a page
    # An agent gets no assignment form; a supervisor would.
    assert "/assign" not in html
    assert response.headers["Cache-Control"] == "no-store"


def test_the_tables_state_changes_only_when_the_queue_does(handed_over, client, logged_in):
    contact_id = handed_over()
    logged_in("agent")

    def state() -> str:
        html = client.get("/handovers/table").text
        return html.split('data-state="', 1)[1].split('"', 1)[0]

    before = state()
    assert state() == before
    client.post(f"/handovers/{contact_id}/claim")
    assert state() != before


def test_the_table_asks_for_a_login(client, handed_over):
    handed_over()
    response = client.get("/handovers/table")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- claiming and releasing ----------------------------------------------------------------


def test_claim_makes_it_the_agents_and_is_audited(handed_over, client, clock, database, logged_in):
    contact_id = handed_over()
    agent = logged_in("agent")
    response = client.post(f"/handovers/{contact_id}/claim", data={"show": "mine"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/handovers?show=mine")
    row = stored(database, contact_id)
    assert row.handover_claimed_by_id == agent.id
    assert row.handover_claimed_at == clock.now
    [event] = audit_rows(database, AuditAction.HANDOVER_CLAIMED)
    assert (event.actor_id, event.subject_id, event.details) == (agent.id, contact_id, {})
    # Claiming one's own again (a double click) changes and records nothing.
    assert client.post(f"/handovers/{contact_id}/claim").status_code == 303
    assert len(audit_rows(database, AuditAction.HANDOVER_CLAIMED)) == 1


def test_a_second_claim_is_refused_with_a_409_naming_who_has_it(
    handed_over, client, app, login, make_staff, database
):
    contact_id = handed_over()
    first, second = make_staff("agent"), make_staff("agent")
    other = app.test_client()
    login(client, first)
    login(other, second)
    assert client.post(f"/handovers/{contact_id}/claim").status_code == 303
    refused = other.post(f"/handovers/{contact_id}/claim")
    assert refused.status_code == 409
    assert f"{first.display_name} has already claimed this handover" in refused.text
    assert "A supervisor can reassign it." in refused.text
    assert stored(database, contact_id).handover_claimed_by_id == first.id
    assert len(audit_rows(database, AuditAction.HANDOVER_CLAIMED)) == 1


def test_a_claim_that_loses_the_race_after_reading_is_a_conflict(
    handed_over, db_session, make_staff, clock
):
    """The second claim read the row while it was free; its conditional UPDATE finds it taken."""
    contact_id = handed_over()
    first, second = make_staff("agent"), make_staff("agent")
    ctx = make_context(db_session, second, clock.now)
    handover = handover_steps.find_handover(ctx, contact_id)
    db_session.execute(
        sa.update(ChatbotConversation)
        .where(ChatbotConversation.id == handover.conversation.id)
        .values(handover_claimed_by_id=first.id, handover_claimed_at=clock.now)
        .execution_options(synchronize_session=False)
    )
    # The ORM object still says "free", as it would have for a request that read it earlier.
    assert handover.conversation.handover_claimed_by_id is None
    with pytest.raises(Conflict, match="already claimed"):
        handover_steps.claim_handover(ctx, contact_public_id=contact_id)


def test_release_puts_it_back(handed_over, client, database, logged_in):
    contact_id = handed_over()
    agent = logged_in("agent")
    client.post(f"/handovers/{contact_id}/claim")
    assert client.post(f"/handovers/{contact_id}/release").status_code == 303
    row = stored(database, contact_id)
    assert row.handover_claimed_by_id is None
    assert row.handover_claimed_at is None
    [event] = audit_rows(database, AuditAction.HANDOVER_RELEASED)
    assert event.details == {"released_staff_id": agent.id, "own": True}
    assert contact_id in client.get("/handovers/table?show=waiting").text


def test_an_agent_cannot_release_someone_elses(handed_over, client, app, login, make_staff):
    contact_id = handed_over()
    owner, agent = make_staff("agent"), make_staff("agent")
    other = app.test_client()
    login(other, owner)
    other.post(f"/handovers/{contact_id}/claim")
    login(client, agent)
    assert client.post(f"/handovers/{contact_id}/release").status_code == 403


# --- assigning -----------------------------------------------------------------------------


def test_a_supervisor_assigns_and_reassigns_to_active_agents(
    handed_over, client, app, login, make_staff, database, logged_in
):
    contact_id = handed_over()
    first, second = make_staff("agent"), make_staff("agent")
    supervisor = logged_in("supervisor")
    page = client.get("/handovers").text
    assert f'<option value="{first.id}">{first.display_name}</option>' in page

    response = client.post(f"/handovers/{contact_id}/assign", data={"staff_id": str(first.id)})
    assert response.status_code == 303
    assert stored(database, contact_id).handover_claimed_by_id == first.id
    # Someone else's claim is refused to an agent, not to a supervisor reassigning it.
    other = app.test_client()
    login(other, second)
    assert other.post(f"/handovers/{contact_id}/claim").status_code == 409
    client.post(f"/handovers/{contact_id}/assign", data={"staff_id": str(second.id)})
    assert stored(database, contact_id).handover_claimed_by_id == second.id

    events = audit_rows(database, AuditAction.HANDOVER_ASSIGNED)
    assert [event.details for event in events] == [
        {"assigned_staff_id": first.id, "previous_staff_id": None},
        {"assigned_staff_id": second.id, "previous_staff_id": first.id},
    ]
    assert {event.actor_id for event in events} == {supervisor.id}


@pytest.mark.parametrize("choice", ["", "abc", "999999", "²", "1" * 40, "-1", "inactive", "admin"])
def test_assigning_needs_an_active_agent_from_the_list(
    handed_over, client, make_staff, database, logged_in, choice
):
    contact_id = handed_over()
    if choice == "inactive":
        choice = str(make_staff("agent", active=False).id)
    elif choice == "admin":
        choice = str(make_staff("admin").id)
    logged_in("supervisor")
    refused = client.post(f"/handovers/{contact_id}/assign", data={"staff_id": choice})
    assert refused.status_code == 422
    assert "Choose an active agent from the list." in refused.text
    assert stored(database, contact_id).handover_claimed_by_id is None


def test_an_agent_cannot_assign(handed_over, client, make_staff, db_session, clock, logged_in):
    contact_id = handed_over()
    colleague = make_staff("agent")
    agent = logged_in("agent")
    response = client.post(f"/handovers/{contact_id}/assign", data={"staff_id": str(colleague.id)})
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        handover_steps.assign_handover(
            make_context(db_session, agent, clock.now),
            contact_public_id=contact_id,
            staff_id=str(colleague.id),
        )


# --- closing -------------------------------------------------------------------------------


def test_close_with_an_outcome_and_a_note(handed_over, client, clock, database, logged_in):
    contact_id = handed_over()
    clock.advance(timedelta(minutes=15))
    agent = logged_in("agent")
    form = client.get(f"/handovers/{contact_id}/close")
    assert form.status_code == 200
    assert 'value="no_answer_needed"' in form.text

    response = close(client, contact_id, outcome="forwarded")
    assert response.status_code == 303
    row = stored(database, contact_id)
    assert row.handover_closed_at == clock.now
    assert row.handover_closed_by_id == agent.id
    # Closing an unclaimed handover takes it too.
    assert row.handover_claimed_by_id == agent.id
    assert row.handover_outcome is HandoverOutcome.FORWARDED
    assert row.handover_outcome_note == NOTE
    [event] = audit_rows(database, AuditAction.HANDOVER_CLOSED)
    assert event.subject_id == contact_id
    assert event.details == {"waited_seconds": 900, "outcome": "forwarded", "by_supervisor": False}

    page = client.get(f"/contacts/{contact_id}").text
    assert "Forwarded" in page
    assert NOTE in page
    assert f"by {agent.username}" in page
    assert "waited 15 min" in page
    assert "Waiting for an agent" not in page


def test_no_audit_row_holds_the_notes_text(handed_over, client, app, database, logged_in):
    contact_id = handed_over()
    logged_in("supervisor")
    client.post(f"/handovers/{contact_id}/claim")
    client.post(f"/handovers/{contact_id}/release")
    close(client, contact_id, outcome_note="Told Maija the refund comes on Friday.")
    with database.unit_of_work() as session:
        details = [str(event.details) for event in session.scalars(sa.select(AuditEvent))]
    assert details
    assert not any("Maija" in text or "refund" in text for text in details)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "Outcome note is required."),
        ("x" * 1001, "at most 1000 characters"),
        ("Called back on 040 1234567", "must not contain identity codes, phone numbers"),
        ("Mail to maija@example.fi", "must not contain identity codes, phone numbers"),
    ],
)
def test_a_note_must_be_given_bounded_and_free_of_contact_details(
    handed_over, client, database, logged_in, note, message
):
    contact_id = handed_over()
    logged_in("agent")
    refused = close(client, contact_id, outcome_note=note)
    assert refused.status_code == 422
    assert message in refused.text
    assert stored(database, contact_id).handover_closed_at is None


def test_a_note_with_an_identity_code_is_refused_and_kept_without_the_code(
    handed_over, client, database, logged_in
):
    contact_id = handed_over()
    logged_in("agent")
    refused = close(client, contact_id, outcome_note="Checked 131052-308T, refund agreed")
    assert refused.status_code == 422
    assert "must not contain identity codes" in refused.text
    assert "131052-308T" not in refused.text
    assert "[identity code removed], refund agreed" in refused.text
    assert 'value="resolved" required checked' in refused.text
    assert stored(database, contact_id).handover_closed_at is None
    assert audit_rows(database, AuditAction.HANDOVER_CLOSED) == []


def test_an_outcome_must_be_chosen(handed_over, client, logged_in):
    contact_id = handed_over()
    logged_in("agent")
    refused = close(client, contact_id, outcome="maybe")
    assert refused.status_code == 422
    assert "Choose how the handover ended." in refused.text


def test_closing_twice_is_a_harmless_repeat(handed_over, client, database, logged_in):
    contact_id = handed_over()
    logged_in("agent")
    assert close(client, contact_id).status_code == 303
    again = close(client, contact_id, outcome="forwarded")
    assert again.status_code == 303
    followed = client.get(again.headers["Location"]).text
    assert "This handover was already closed." in followed
    assert stored(database, contact_id).handover_outcome is HandoverOutcome.RESOLVED
    assert len(audit_rows(database, AuditAction.HANDOVER_CLOSED)) == 1


def test_a_closed_handover_cannot_be_claimed_assigned_released_or_closed_by_another(
    handed_over, client, app, login, make_staff, database
):
    contact_id = handed_over()
    closer, agent, supervisor = make_staff("agent"), make_staff("agent"), make_staff("supervisor")
    login(client, closer)
    close(client, contact_id)
    other = app.test_client()
    login(other, agent)
    refused = other.post(f"/handovers/{contact_id}/claim")
    assert refused.status_code == 409
    assert f"closed by {closer.display_name}; it cannot be claimed" in refused.text
    assert close(other, contact_id).status_code == 409
    login(other, supervisor)
    assigned = other.post(f"/handovers/{contact_id}/assign", data={"staff_id": str(agent.id)})
    assert assigned.status_code == 409
    assert other.post(f"/handovers/{contact_id}/release").status_code == 409
    assert 'id="handover-already-closed"' in other.get(f"/handovers/{contact_id}/close").text
    assert stored(database, contact_id).handover_claimed_by_id == closer.id
    assert audit_rows(database, AuditAction.HANDOVER_CLAIMED) == []


def test_an_agent_cannot_close_someone_elses_but_a_supervisor_can(
    handed_over, client, app, login, make_staff, database
):
    contact_id = handed_over()
    owner, agent, supervisor = make_staff("agent"), make_staff("agent"), make_staff("supervisor")
    other = app.test_client()
    login(other, owner)
    other.post(f"/handovers/{contact_id}/claim")
    login(client, agent)
    refused = close(client, contact_id)
    assert refused.status_code == 409
    assert owner.display_name in refused.text
    login(client, supervisor)
    assert close(client, contact_id).status_code == 303
    row = stored(database, contact_id)
    assert row.handover_closed_by_id == supervisor.id
    assert row.handover_claimed_by_id == owner.id
    [event] = audit_rows(database, AuditAction.HANDOVER_CLOSED)
    assert event.details["by_supervisor"] is True


def test_a_contact_without_a_handover_has_nothing_to_claim_or_close(
    post_chatbot: PostChatbot, secret, client, logged_in
):
    contact_id = post_chatbot(conversation(handover=False), secret=secret).get_json()["contact_id"]
    logged_in("supervisor")
    for step in ("claim", "release", "close"):
        assert client.post(f"/handovers/{contact_id}/{step}").status_code == 404
    assert client.get(f"/handovers/{contact_id}/close").status_code == 404
    assert client.post("/handovers/00000000-0000-4000-8000-000000000000/claim").status_code == 404


def test_the_contact_page_shows_who_claimed_it(handed_over, client, logged_in):
    contact_id = handed_over(conversation_id="conv-page")
    agent = logged_in("agent")
    page = client.get(f"/contacts/{contact_id}").text
    assert "<h2>Chatbot conversation</h2>" in page
    assert "conv-page" in page
    assert "Waiting for an agent" in page
    assert 'href="/handovers"' in page
    client.post(f"/handovers/{contact_id}/claim")
    assert f"Claimed by {agent.username}" in client.get(f"/contacts/{contact_id}").text


def test_the_empty_queue_says_so(client, logged_in):
    logged_in("supervisor")
    assert "no open chatbot handovers" in client.get("/handovers").text


def test_agents_see_the_handovers_link(client, logged_in):
    logged_in("agent")
    assert 'href="/handovers"' in client.get("/contacts/unlinked").text


def test_the_services_refuse_roles_without_log_contacts(db_session, make_staff, clock):
    dpo = make_context(db_session, make_staff("dpo"), clock.now)
    with pytest.raises(PermissionDenied):
        handovers.list_handovers(dpo)
    for step in (handover_steps.claim_handover, handover_steps.release_handover):
        with pytest.raises(PermissionDenied):
            step(dpo, contact_public_id="whatever")
    with pytest.raises(PermissionDenied):
        handover_steps.close_handover(dpo, contact_public_id="x", outcome="resolved", note=NOTE)


def test_closing_validates_before_it_looks(db_session, make_staff, clock):
    agent = make_context(db_session, make_staff("agent"), clock.now)
    with pytest.raises(ValidationFailed) as failure:
        handover_steps.close_handover(agent, contact_public_id="x", outcome="", note="")
    assert set(failure.value.errors) == {"outcome", "outcome_note"}


def test_a_restricted_customers_handover_does_not_exist_for_an_agent(
    handed_over, client, database, logged_in, make_customer, clock
):
    from cs_register.contacts.models import Contact
    from cs_register.customers.models import Customer

    contact_id = handed_over()
    customer = make_customer(given_names="Salainen", family_name="Rajoitettu")
    with database.unit_of_work() as session:
        contact = session.scalar(sa.select(Contact).where(Contact.public_id == contact_id))
        contact.customer_id = customer.id
        session.get(Customer, customer.id).restricted_at = clock.now
    logged_in("agent")

    assert contact_id not in client.get("/handovers").text
    assert client.get(f"/handovers/{contact_id}/close").status_code == 404
    assert client.post(f"/handovers/{contact_id}/claim").status_code == 404
    assert close(client, contact_id).status_code == 404
    assert stored(database, contact_id).handover_claimed_by_id is None
