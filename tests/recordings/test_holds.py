"""Supervisor holds: the 12-month cap, several holds at once, release, automatic end, refusals
on purged and expired recordings, who may hold, and the audit trail; through the services and
through the console."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.errors import Conflict, PermissionDenied, ValidationFailed
from recordings import holds, services
from recordings.models import Recording, RecordingHold, RecordingState
from tests.support.context import make_context

# Recordings are made at the clock's start, 23.11.2026 09:00 UTC (11:00 in Helsinki).
RECORDED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RETAIN_UNTIL = datetime(2027, 2, 23, 9, 0, tzinfo=UTC)
CAP = datetime(2027, 11, 23, 9, 0, tzinfo=UTC)
CAP_TEXT = "23.11.2027 11:00"
# A hold kept through 31 May 2027 ends at the next Helsinki midnight (summer time, UTC+3).
END_OF_31_MAY = datetime(2027, 5, 31, 21, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def hold_form(**overrides: str) -> dict[str, str]:
    form = {
        "reason": "complaint",
        "reference": "Complaint case 2041",
        "justification": "The customer disputes what was agreed on the call.",
        "ends_on": "",
    }
    form.update(overrides)
    return form


@pytest.fixture
def recording(make_recording):
    recording = make_recording()
    assert recording.recorded_at == RECORDED_AT
    return recording


@pytest.fixture
def supervisor(staff_in):
    return staff_in("supervisor", username="sanna.supervisor")


def place(db_session, recording, actor, clock, policy, **overrides):
    form = hold_form(**overrides)
    ends_on = date.fromisoformat(form["ends_on"]) if form["ends_on"] else None
    hold = holds.place_hold(
        make_context(db_session, actor, clock.now),
        recording_public_id=recording.public_id,
        reason=form["reason"],
        reference=form["reference"],
        justification=form["justification"],
        ends_on=ends_on,
        policy=policy,
    )
    db_session.commit()
    return hold


def release(db_session, hold, actor, clock, policy, note="Case closed."):
    released = holds.release_hold(
        make_context(db_session, actor, clock.now),
        hold_public_id=hold.public_id,
        note=note,
        policy=policy,
    )
    db_session.commit()
    return released


def status_of(reload_recording, recording, clock, policy):
    return services.retention_status(
        reload_recording(recording.public_id), now=clock.now, policy=policy
    )


# --- the cap ----------------------------------------------------------------------------------


def test_a_hold_without_an_end_date_lasts_until_the_cap(
    db_session, recording, supervisor, clock, policy, reload_recording
):
    hold = place(db_session, recording, supervisor, clock, policy)
    assert hold.ends_at == CAP
    stored = reload_recording(recording.public_id)
    assert stored.due_at == CAP
    status = services.retention_status(stored, now=clock.now, policy=policy)
    assert status.label == "held"
    assert status.retain_until == RETAIN_UNTIL


def test_a_hold_on_the_cap_day_ends_exactly_at_the_cap(
    db_session, recording, supervisor, clock, policy
):
    hold = place(db_session, recording, supervisor, clock, policy, ends_on="2027-11-23")
    assert hold.ends_at == CAP


def test_a_hold_past_the_cap_is_refused_naming_the_cap_date(
    db_session, recording, supervisor, clock, policy, audit_rows
):
    with pytest.raises(ValidationFailed) as failure:
        place(db_session, recording, supervisor, clock, policy, ends_on="2027-11-24")
    (message,) = failure.value.errors["ends_on"]
    assert CAP_TEXT in message
    db_session.rollback()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0
    assert audit_rows(AuditAction.HOLD_PLACED) == []


def test_through_the_console_a_hold_past_the_cap_is_422_with_the_cap_date(
    client, logged_in, recording, audit_rows, db_session
):
    logged_in("supervisor")
    response = client.post(
        f"/recordings/{recording.public_id}/holds",
        data=hold_form(ends_on="2028-01-15", reference="QD-2027-02"),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert CAP_TEXT in page
    # The form comes back with what was typed.
    assert 'value="QD-2027-02"' in page
    assert 'value="2028-01-15"' in page
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0
    assert audit_rows(AuditAction.HOLD_PLACED) == []


# --- several holds, release, automatic end ----------------------------------------------------


def test_several_holds_keep_the_recording_while_any_is_active(
    db_session, recording, supervisor, clock, policy, reload_recording
):
    short = place(db_session, recording, supervisor, clock, policy, ends_on="2027-03-31")
    long = place(
        db_session,
        recording,
        supervisor,
        clock,
        policy,
        ends_on="2027-05-31",
        reason="quality_development",
        reference="QD-2027-02",
    )
    assert reload_recording(recording.public_id).due_at == END_OF_31_MAY

    clock.set(datetime(2027, 4, 15, 9, 0, tzinfo=UTC))
    # The short hold has ended on its own; the long one still keeps the recording.
    status = status_of(reload_recording, recording, clock, policy)
    assert status.label == "held"
    assert [h.public_id for h in status.active_holds] == [long.public_id]

    release(db_session, long, supervisor, clock, policy)
    # Released after the short hold's end and after the normal period: due at once.
    stored = reload_recording(recording.public_id)
    assert stored.due_at == clock.now
    assert status_of(reload_recording, recording, clock, policy).label == "expired"
    assert short.ends_at < clock.now


def test_releasing_one_of_two_holds_falls_back_to_the_other(
    db_session, recording, supervisor, clock, policy, reload_recording
):
    place(db_session, recording, supervisor, clock, policy, ends_on="2027-03-31")
    long = place(db_session, recording, supervisor, clock, policy, ends_on="2027-05-31")
    release(db_session, long, supervisor, clock, policy)
    # Released straight away (before the normal period ended): the short hold decides.
    end_of_31_march = datetime(2027, 3, 31, 21, 0, tzinfo=UTC)
    assert reload_recording(recording.public_id).due_at == end_of_31_march
    assert status_of(reload_recording, recording, clock, policy).label == "held"


def test_a_release_within_the_normal_period_falls_back_to_three_months(
    db_session, recording, supervisor, clock, policy, reload_recording
):
    hold = place(db_session, recording, supervisor, clock, policy)
    clock.advance(timedelta(days=10))
    release(db_session, hold, supervisor, clock, policy)
    assert reload_recording(recording.public_id).due_at == RETAIN_UNTIL
    assert status_of(reload_recording, recording, clock, policy).label == "kept"


def test_release_after_three_months_makes_the_audio_gone_at_once(
    client, make_staff, login, recording, clock, reload_recording, db_session
):
    supervisor = make_staff("supervisor")
    clock.advance(timedelta(days=1))
    login(client, supervisor)
    assert (
        client.post(f"/recordings/{recording.public_id}/holds", data=hold_form()).status_code == 302
    )
    hold = db_session.scalars(sa.select(RecordingHold)).one()

    clock.set(datetime(2027, 4, 1, 9, 0, tzinfo=UTC))
    login(client, supervisor)
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 200
    response = client.post(f"/holds/{hold.public_id}/release", data={"note": "Case closed."})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/recordings/{recording.public_id}"
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 410
    assert reload_recording(recording.public_id).due_at == clock.now


def test_a_hold_ends_on_its_own_at_its_end(
    client, make_staff, login, db_session, recording, supervisor, clock, policy, reload_recording
):
    hold = place(db_session, recording, supervisor, clock, policy, ends_on="2027-05-31")
    agent = make_staff("agent")

    clock.set(hold.ends_at - SECOND)
    login(client, agent)
    assert status_of(reload_recording, recording, clock, policy).label == "held"
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 200

    clock.set(hold.ends_at)
    login(client, agent)
    assert status_of(reload_recording, recording, clock, policy).label == "expired"
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 410
    # Nobody had to release it; its end date did.
    assert reload_recording(recording.public_id).holds[0].released_at is None


def test_a_hold_that_ends_before_three_months_changes_nothing(
    db_session, recording, supervisor, clock, policy, reload_recording
):
    place(db_session, recording, supervisor, clock, policy, ends_on="2027-01-10")
    assert reload_recording(recording.public_id).due_at == RETAIN_UNTIL
    assert status_of(reload_recording, recording, clock, policy).label == "kept"


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [RecordingState.PURGING, RecordingState.PURGED])
def test_purging_or_purged_recordings_cannot_be_held(
    client, logged_in, db_session, recording, supervisor, clock, policy, state, audit_rows
):
    row = db_session.get(Recording, recording.id)
    row.state = state
    if state is RecordingState.PURGED:
        row.storage_key = None
        row.purged_at = clock.now
    db_session.commit()

    with pytest.raises(Conflict):
        place(db_session, recording, supervisor, clock, policy)
    db_session.rollback()

    logged_in("supervisor")
    response = client.post(f"/recordings/{recording.public_id}/holds", data=hold_form())
    assert response.status_code == 409
    assert "purged" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0
    assert audit_rows(AuditAction.HOLD_PLACED) == []


def test_an_expired_recording_cannot_be_held(
    client, make_staff, login, db_session, recording, supervisor, clock, policy
):
    clock.set(RETAIN_UNTIL)
    with pytest.raises(Conflict):
        place(db_session, recording, supervisor, clock, policy)
    db_session.rollback()

    login(client, make_staff("supervisor"))
    response = client.post(f"/recordings/{recording.public_id}/holds", data=hold_form())
    assert response.status_code == 409
    assert "retention period has ended" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0


def test_agents_cannot_place_or_release_holds(
    client, logged_in, db_session, recording, supervisor, staff_in, clock, policy, audit_rows
):
    agent = staff_in("agent")
    with pytest.raises(PermissionDenied):
        place(db_session, recording, agent, clock, policy)
    db_session.rollback()
    hold = place(db_session, recording, supervisor, clock, policy)
    with pytest.raises(PermissionDenied):
        release(db_session, hold, agent, clock, policy)
    db_session.rollback()

    logged_in("agent")
    assert (
        client.post(f"/recordings/{recording.public_id}/holds", data=hold_form()).status_code == 403
    )
    assert client.post(f"/holds/{hold.public_id}/release", data={"note": "no"}).status_code == 403
    assert len(audit_rows(AuditAction.HOLD_PLACED)) == 1
    assert audit_rows(AuditAction.HOLD_RELEASED) == []
    assert db_session.get(RecordingHold, hold.id).released_at is None


def test_an_ended_hold_cannot_be_released_again(
    client, logged_in, db_session, recording, supervisor, clock, policy
):
    hold = place(db_session, recording, supervisor, clock, policy)
    release(db_session, hold, supervisor, clock, policy)
    logged_in("supervisor")
    response = client.post(f"/holds/{hold.public_id}/release", data={"note": "Again."})
    assert response.status_code == 409
    assert "already ended" in response.get_data(as_text=True)


# --- the console forms ----------------------------------------------------------------------


def test_a_supervisor_places_a_hold_from_the_recording_page(
    client, logged_in, db_session, recording, audit_rows
):
    supervisor = logged_in("supervisor")
    response = client.post(
        f"/recordings/{recording.public_id}/holds",
        data=hold_form(reason="quality_development", reference="QD-2027-02", ends_on="2027-05-31"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/recordings/{recording.public_id}"
    hold = db_session.scalars(sa.select(RecordingHold)).one()
    assert hold.ends_at == END_OF_31_MAY
    assert hold.placed_by_id == supervisor.id

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Hold placed." in page
    assert "QD-2027-02" in page
    assert "Quality development" in page
    assert "01.06.2027 00:00" in page  # the end, in Helsinki time
    assert f"/holds/{hold.public_id}/release" in page

    (placed,) = audit_rows(AuditAction.HOLD_PLACED, recording.public_id)
    assert placed.actor_id == supervisor.id
    assert placed.details["reason"] == "quality_development"
    assert placed.details["reference"] == "QD-2027-02"
    assert placed.details["hold"] == hold.public_id


def test_a_supervisor_releases_a_hold_with_a_note(
    client, logged_in, db_session, recording, supervisor, clock, policy, audit_rows
):
    hold = place(db_session, recording, supervisor, clock, policy, reference="Complaint 77")
    releaser = logged_in("supervisor")
    clock.advance(timedelta(minutes=5))
    response = client.post(f"/holds/{hold.public_id}/release", data={"note": "Resolved."})
    assert response.status_code == 302
    db_session.expire_all()
    stored = db_session.get(RecordingHold, hold.id)
    assert stored.released_by_id == releaser.id
    assert stored.release_note == "Resolved."
    assert stored.released_at == clock.now

    page = client.get(f"/recordings/{recording.public_id}").get_data(as_text=True)
    assert "Hold released." in page
    assert "Released" in page
    assert "Resolved." in page

    (released,) = audit_rows(AuditAction.HOLD_RELEASED, recording.public_id)
    assert released.actor_id == releaser.id
    assert released.details == {
        "hold": hold.public_id,
        "reason": "complaint",
        "reference": "Complaint 77",
    }


def test_a_release_without_a_note_is_422_next_to_that_hold(
    client, logged_in, db_session, recording, supervisor, clock, policy
):
    hold = place(db_session, recording, supervisor, clock, policy)
    logged_in("supervisor")
    response = client.post(f"/holds/{hold.public_id}/release", data={"note": "  "})
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(RecordingHold, hold.id).released_at is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "because"}, "reason"),
        ({"reference": ""}, "reference"),
        ({"justification": ""}, "justification"),
        ({"ends_on": "31.5.2027"}, "ends_on"),
        ({"ends_on": "2026-11-01"}, "ends_on"),  # in the past
        # The reference goes into the audit trail, which takes no personal data.
        ({"reference": "0401234567"}, "reference"),
        # Spaced as people type it: the phonenumbers matcher finds it, a regex did not.
        ({"reference": "Call back 040 1234567"}, "reference"),
        ({"reference": "Soita 09 1234 5678"}, "reference"),
        ({"reference": "Asiakas +358 40 123 4567"}, "reference"),
    ],
)
def test_invalid_hold_forms_are_422_and_nothing_is_written(
    client, logged_in, db_session, recording, audit_rows, overrides, field
):
    logged_in("supervisor")
    response = client.post(f"/recordings/{recording.public_id}/holds", data=hold_form(**overrides))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    # The offending field, and only that one, is marked invalid.
    assert re.findall(r'id="(\w+)"[^>]*aria-invalid="true"', page) == [field]
    assert "Please correct the following" in page
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0
    assert audit_rows(AuditAction.HOLD_PLACED) == []


def test_an_identity_code_typed_into_a_hold_form_is_not_echoed(client, logged_in, recording):
    logged_in("supervisor")
    response = client.post(
        f"/recordings/{recording.public_id}/holds",
        data=hold_form(reason="", justification="Caller 131052-308T disputes the agreement."),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "131052-308T" not in page
    assert "looked like an identity code" in page
