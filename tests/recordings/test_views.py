"""The recordings console through real requests: the recording page, the supervisor lists,
recordings on contact and customer pages, and uploading a recording from the console."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact
from recordings import holds, views
from recordings.models import Recording, RecordingHold, RecordingState
from tests.recordings.audio_samples import corrupt
from tests.recordings.storage_support import staging_folder
from tests.support.context import make_context

RETAIN_UNTIL = datetime(2027, 2, 23, 9, 0, tzinfo=UTC)


def hold_on(db_session, recording, supervisor, clock, policy, ends_on=None, reference="QD-1"):
    hold = holds.place_hold(
        make_context(db_session, supervisor, clock.now),
        recording_public_id=recording.public_id,
        reason="quality_development",
        reference=reference,
        justification="Training material for new agents.",
        ends_on=ends_on,
        policy=policy,
    )
    db_session.commit()
    return hold


def set_state(db_session, recording, state, clock):
    row = db_session.get(Recording, recording.id)
    row.state = state
    if state is RecordingState.PURGED:
        row.storage_key = None
        row.playback_key = None
        row.purged_at = clock.now
        row.purge_reason = "retention"
    db_session.commit()


def recording_links(page: str) -> list[str]:
    return re.findall(r'href="/recordings/([0-9a-f-]{36})"', page)


# --- the recording page -------------------------------------------------------------------


def test_the_recording_page_shows_the_facts_and_a_player(
    client, logged_in, make_customer, make_recording, audit_rows, db_session
):
    customer = make_customer(given_names="Liisa", family_name="Laine")
    recording = make_recording(customer=customer)
    contact = db_session.get(Contact, recording.contact_id)
    agent = logged_in("agent")
    response = client.get(f"/recordings/{recording.public_id}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert f'href="/customers/{customer.public_id}"' in page
    assert "Liisa Laine" in page
    assert f'href="/contacts/{contact.public_id}"' in page
    assert "23.11.2026 11:00" in page  # recorded at, Helsinki time
    assert "00:01" in page  # duration mm:ss
    assert "pcm_s16le in wav" in page
    assert "mono" in page
    assert "8000 Hz" in page
    assert recording.sha256 in page
    assert str(recording.size_bytes) in page
    assert "Test Agent" in page  # uploaded by
    assert f'<audio controls preload="none" src="/recordings/{recording.public_id}/audio">' in page
    # Retention panel: kept until 23.2.2027, cap 23.11.2027, 92 days to go.
    assert "23.02.2027 11:00" in page
    assert "23.11.2027 11:00" in page
    assert "in 92 days" in page
    # Agents neither download nor hold.
    assert "/download" not in page
    assert "Place a hold" not in page
    (viewed,) = audit_rows(AuditAction.RECORDING_VIEWED, recording.public_id)
    assert viewed.actor_id == agent.id
    # Opening the page plays nothing.
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []


def test_supervisors_get_download_and_the_hold_form_with_the_cap(client, logged_in, make_recording):
    recording = make_recording()
    logged_in("supervisor")
    page = client.get(f"/recordings/{recording.public_id}").get_data(as_text=True)
    assert f'href="/recordings/{recording.public_id}/download"' in page
    assert f'action="/recordings/{recording.public_id}/holds"' in page
    assert 'name="csrf_token"' in page
    assert 'type="date" id="ends_on" name="ends_on" min="2026-11-23" max="2027-11-23"' in page
    assert "Latest possible date: 23.11.2027" in page
    assert '<option value="complaint"' in page
    assert '<option value="quality_development"' in page


def test_the_page_lists_active_and_ended_holds(
    client, make_staff, login, db_session, make_recording, staff_in, clock, policy
):
    recording = make_recording()
    supervisor = staff_in("supervisor")
    ended = hold_on(db_session, recording, supervisor, clock, policy, reference="QD-old")
    holds.release_hold(
        make_context(db_session, supervisor, clock.now),
        hold_public_id=ended.public_id,
        note="Not needed after all.",
        policy=policy,
    )
    db_session.commit()
    active = hold_on(db_session, recording, supervisor, clock, policy, reference="QD-new")
    login(client, make_staff("supervisor"))
    page = client.get(f"/recordings/{recording.public_id}").get_data(as_text=True)
    assert "QD-old" in page
    assert "QD-new" in page
    assert "Not needed after all." in page
    assert "Training material for new agents." in page
    assert f"/holds/{active.public_id}/release" in page
    assert f"/holds/{ended.public_id}/release" not in page


def test_an_expired_recording_keeps_its_facts_but_loses_the_player(
    client, make_staff, login, make_recording, clock
):
    recording = make_recording()
    clock.set(RETAIN_UNTIL)
    login(client, make_staff("supervisor"))
    response = client.get(f"/recordings/{recording.public_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert recording.sha256 in page
    assert "Retention ended" in page
    assert "<audio" not in page
    assert "/download" not in page
    assert "Place a hold" not in page


def test_a_purged_recording_page_says_so(client, logged_in, db_session, make_recording, clock):
    recording = make_recording()
    set_state(db_session, recording, RecordingState.PURGED, clock)
    logged_in("agent")
    page = client.get(f"/recordings/{recording.public_id}").get_data(as_text=True)
    assert "Purged" in page
    assert "The audio was deleted on" in page
    assert "<audio" not in page
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 410


# --- the recordings list --------------------------------------------------------------------


def test_the_list_shows_recordings_newest_first_with_state_and_due_date(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    older = make_recording()
    clock.advance(timedelta(hours=1))
    newer = make_recording(frequency=500)
    hold_on(db_session, older, staff_in("supervisor"), clock, policy)
    logged_in("supervisor")
    page = client.get("/recordings").get_data(as_text=True)
    assert recording_links(page) == [newer.public_id, older.public_id]
    assert "Held" in page
    assert "Kept" in page
    assert "23.02.2027 12:00" in page  # the newer one is due three months after it

    held = client.get("/recordings?state=held").get_data(as_text=True)
    assert recording_links(held) == [older.public_id]
    kept = client.get("/recordings?state=kept").get_data(as_text=True)
    assert recording_links(kept) == [newer.public_id]
    assert client.get("/recordings?state=expired").status_code == 422


def test_expired_and_purged_recordings_disappear_from_the_list(
    client, make_staff, login, db_session, make_recording, clock
):
    expiring = make_recording()
    purged = make_recording(frequency=500)
    set_state(db_session, purged, RecordingState.PURGED, clock)
    clock.advance(timedelta(days=1))
    fresh = make_recording(frequency=600)
    supervisor = make_staff("supervisor")

    clock.set(expiring.due_at - timedelta(seconds=1))
    login(client, supervisor)
    page = client.get("/recordings").get_data(as_text=True)
    assert recording_links(page) == [fresh.public_id, expiring.public_id]

    # At its due instant, before any purge has run, it is no longer listed.
    clock.set(expiring.due_at)
    login(client, supervisor)
    page = client.get("/recordings").get_data(as_text=True)
    assert recording_links(page) == [fresh.public_id]


def test_the_list_is_paginated_without_counters_in_the_url(
    client, logged_in, make_recording, clock, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    made = []
    for frequency in (300, 400, 500, 600, 700):
        made.append(make_recording(frequency=frequency))
        clock.advance(timedelta(minutes=1))
    newest_first = [r.public_id for r in reversed(made)]
    logged_in("supervisor")

    seen = []
    url = "/recordings"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += recording_links(page)
        match = re.search(r'href="([^"]+)" rel="next"', page)
        url = match.group(1).replace("&amp;", "&") if match else None
        if url:
            assert re.fullmatch(r"/recordings\?after=[0-9a-f-]{36}", url)
    assert seen == newest_first


def test_the_held_filter_pages_through_held_recordings_only(
    client, logged_in, db_session, make_recording, staff_in, clock, policy, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    supervisor = staff_in("supervisor")
    made = []
    for frequency in (300, 400, 500, 600):
        made.append(make_recording(frequency=frequency))
        clock.advance(timedelta(minutes=1))
    for recording in (made[0], made[2]):
        hold_on(db_session, recording, supervisor, clock, policy)
    logged_in("supervisor")
    first = client.get("/recordings?state=held").get_data(as_text=True)
    assert recording_links(first) == [made[2].public_id]
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).get_data(as_text=True)
    assert recording_links(second) == [made[0].public_id]
    assert 'rel="next"' not in second


@pytest.mark.parametrize("role", ["agent", "admin", "dpo"])
def test_only_supervisors_see_the_lists(client, logged_in, role):
    logged_in(role)
    assert client.get("/recordings").status_code == 403
    assert client.get("/holds").status_code == 403


def test_supervisors_have_the_nav_links_agents_do_not(client, make_staff, login):
    login(client, make_staff("supervisor"))
    page = client.get("/recordings").get_data(as_text=True)
    assert 'href="/holds">Holds</a>' in page
    # The page shown is marked in the navigation (aria-current).
    assert 'href="/recordings" aria-current="page">Recordings</a>' in page
    login(client, make_staff("agent"))
    page = client.get("/customers").get_data(as_text=True)
    assert 'href="/holds"' not in page


# --- the holds dashboard ------------------------------------------------------------------


def test_the_dashboard_lists_active_holds_and_those_ending_soon(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    supervisor = staff_in("supervisor", username="sanna")
    soon = make_recording()
    later = make_recording(frequency=500)
    released = make_recording(frequency=600)
    hold_on(
        db_session,
        soon,
        supervisor,
        clock,
        policy,
        ends_on=datetime(2026, 12, 1).date(),
        reference="QD-soon",
    )
    hold_on(db_session, later, supervisor, clock, policy, reference="QD-later")
    gone = hold_on(db_session, released, supervisor, clock, policy, reference="QD-released")
    holds.release_hold(
        make_context(db_session, supervisor, clock.now),
        hold_public_id=gone.public_id,
        note="Done.",
        policy=policy,
    )
    db_session.commit()

    logged_in("supervisor")
    page = client.get("/holds").get_data(as_text=True)
    ending_soon, _, everything = page.partition('id="active-holds"')
    assert "QD-soon" in ending_soon
    assert "QD-later" not in ending_soon
    assert recording_links(everything) == [soon.public_id, later.public_id]
    assert "QD-released" not in page
    assert "Test Supervisor" in page  # placed by
    # Kept through 1 December: shown as that day, not as the midnight after it.
    assert "until 01.12.2026 (inclusive)" in page
    assert "02.12.2026 00:00" not in page
    assert "9 days" in page  # to that end, counted in Helsinki days
    assert "365 days" in page  # to the cap


def test_holds_of_expired_recordings_leave_the_dashboard(
    client, make_staff, login, db_session, make_recording, staff_in, clock, policy
):
    recording = make_recording()
    hold = hold_on(
        db_session,
        recording,
        staff_in("supervisor"),
        clock,
        policy,
        ends_on=datetime(2027, 5, 31).date(),
    )
    supervisor = make_staff("supervisor")
    clock.set(hold.ends_at - timedelta(seconds=1))
    login(client, supervisor)
    assert recording_links(client.get("/holds").get_data(as_text=True)) == [
        recording.public_id,
        recording.public_id,  # listed in "ending soon" and in "all"
    ]
    clock.set(hold.ends_at)
    login(client, supervisor)
    page = client.get("/holds").get_data(as_text=True)
    assert recording_links(page) == []
    assert "No recording is on hold." in page


# --- contact and customer pages -------------------------------------------------------------


def test_a_phone_contact_page_plays_its_recording(client, logged_in, make_recording, db_session):
    recording = make_recording()
    contact = db_session.get(Contact, recording.contact_id)
    logged_in("agent")
    page = client.get(f"/contacts/{contact.public_id}").get_data(as_text=True)
    assert f'src="/recordings/{recording.public_id}/audio"' in page
    assert f'href="/recordings/{recording.public_id}"' in page
    assert "Upload recording" not in page


def test_a_phone_contact_without_a_recording_offers_the_upload_form(
    client, logged_in, make_phone_contact
):
    contact = make_phone_contact()
    logged_in("agent")
    page = client.get(f"/contacts/{contact.public_id}").get_data(as_text=True)
    assert f'action="/contacts/{contact.public_id}/recording"' in page
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" id="audio" name="audio"' in page


def test_other_channels_have_no_recording_panel(client, logged_in, make_phone_contact):
    contact = make_phone_contact(channel="email")
    logged_in("agent")
    page = client.get(f"/contacts/{contact.public_id}").get_data(as_text=True)
    assert "Call recording" not in page
    assert "/recording" not in page


def test_dpos_see_that_a_recording_exists_but_get_no_player(
    client, logged_in, make_recording, db_session
):
    recording = make_recording()
    contact = db_session.get(Contact, recording.contact_id)
    logged_in("dpo")
    page = client.get(f"/contacts/{contact.public_id}").get_data(as_text=True)
    assert "<audio" not in page
    assert "does not include listening" in page
    assert "Upload recording" not in page


def test_an_expired_recording_shows_as_deleted_on_contact_and_customer_pages(
    client, make_staff, login, make_customer, make_recording, db_session, clock
):
    customer = make_customer()
    expired = make_recording(customer=customer)
    clock.advance(timedelta(days=10))
    current = make_recording(customer=customer, frequency=500)
    expired_contact = db_session.get(Contact, expired.contact_id)

    clock.set(expired.due_at)
    login(client, make_staff("agent"))
    contact_page = client.get(f"/contacts/{expired_contact.public_id}").get_data(as_text=True)
    assert "Recording deleted (retention)." in contact_page
    assert "<audio" not in contact_page
    assert "Upload recording" not in contact_page

    customer_page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert customer_page.count("▶ recording") == 1
    assert f'href="/recordings/{current.public_id}">▶ recording' in customer_page
    assert "recording deleted (retention)" in customer_page


def test_dpos_get_no_recording_links_on_customer_pages(
    client, logged_in, make_customer, make_recording
):
    customer = make_customer()
    make_recording(customer=customer)
    logged_in("dpo")
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert "▶ recording" not in page


# --- console upload -------------------------------------------------------------------------


def upload(client, contact, path: Path, *, filename="call.wav", mimetype="audio/wav", **form):
    with path.open("rb") as handle:
        return client.post(
            f"/contacts/{contact.public_id}/recording",
            data={"audio": (handle, filename, mimetype), **form},
            content_type="multipart/form-data",
        )


def stored_files(storage) -> list[str]:
    return sorted(storage.iter_keys())


def staging_files(storage) -> list[Path]:
    staging = staging_folder(storage)
    return list(staging.iterdir()) if staging.exists() else []


def test_an_agent_uploads_a_recording_to_a_phone_contact(
    client, logged_in, make_phone_contact, sample_file, db_session, storage, audit_rows
):
    contact = make_phone_contact()
    path = sample_file("wav_pcm16")
    agent = logged_in("agent")
    response = upload(client, contact, path)
    assert response.status_code == 302
    recording = db_session.scalars(sa.select(Recording)).one()
    assert response.headers["Location"] == f"/recordings/{recording.public_id}"
    assert recording.contact_id == contact.id
    assert recording.uploaded_by_id == agent.id
    assert recording.recorded_at == contact.occurred_at
    assert recording.content_type == "audio/wav"
    assert b"".join(storage.open(recording.storage_key)) == path.read_bytes()
    (stored,) = audit_rows(AuditAction.RECORDING_STORED, recording.public_id)
    assert stored.actor_id == agent.id
    assert "Recording stored." in client.get(response.headers["Location"]).get_data(as_text=True)
    assert staging_files(storage) == []


def test_an_upload_may_say_when_the_recording_started(
    client, logged_in, make_phone_contact, sample_file, db_session
):
    contact = make_phone_contact()
    logged_in("agent")
    response = upload(client, contact, sample_file(), recorded_at="2026-11-23T10:30")
    assert response.status_code == 302
    recording = db_session.scalars(sa.select(Recording)).one()
    # 10:30 in Helsinki in November is 08:30 UTC.
    assert recording.recorded_at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def test_a_raw_gsm_upload_without_an_audio_type_gets_a_playable_copy(
    client, logged_in, make_phone_contact, sample_file, db_session
):
    contact = make_phone_contact()
    logged_in("agent")
    response = upload(
        client,
        contact,
        sample_file("gsm"),
        filename="call.gsm",
        mimetype="application/octet-stream",
    )
    assert response.status_code == 302
    recording = db_session.scalars(sa.select(Recording)).one()
    assert recording.codec == "gsm"
    assert recording.content_type == "audio/gsm"
    assert recording.playback_key is not None
    played = client.get(f"/recordings/{recording.public_id}/audio")
    assert played.status_code == 200
    assert played.headers["Content-Type"] == "audio/mpeg"


def test_a_corrupt_upload_is_refused_on_the_contact_page_and_nothing_is_stored(
    client, logged_in, make_phone_contact, sample_file, db_session, storage, audit_rows
):
    contact = make_phone_contact()
    path = corrupt(sample_file("mp3", seconds=2))
    logged_in("agent")
    response = upload(
        client,
        contact,
        path,
        filename="call.mp3",
        mimetype="audio/mpeg",
        recorded_at="2026-11-23T10:30",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Please correct the following" in page
    assert "The audio could not be decoded completely; it may be corrupt." in page
    assert 'value="2026-11-23T10:30"' in page  # the form keeps what was typed
    assert f'action="/contacts/{contact.public_id}/recording"' in page
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Recording)) == 0
    assert stored_files(storage) == []
    assert staging_files(storage) == []
    assert audit_rows(AuditAction.RECORDING_STORED) == []


def test_a_non_audio_upload_is_refused(client, logged_in, make_phone_contact, tmp_path, db_session):
    contact = make_phone_contact()
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    logged_in("agent")
    response = upload(client, contact, text, filename="notes.txt", mimetype="text/plain")
    assert response.status_code == 415
    assert "not an audio file" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Recording)) == 0


def test_an_upload_without_a_file_is_422(client, logged_in, make_phone_contact):
    contact = make_phone_contact()
    logged_in("agent")
    response = client.post(
        f"/contacts/{contact.public_id}/recording",
        data={},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Choose the audio file to upload." in response.get_data(as_text=True)


def test_recordings_attach_to_phone_contacts_only(
    client, logged_in, make_phone_contact, sample_file, db_session
):
    contact = make_phone_contact(channel="email")
    logged_in("agent")
    response = upload(client, contact, sample_file())
    assert response.status_code == 409
    assert "phone contacts" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Recording)) == 0


@pytest.mark.parametrize("role", ["admin", "dpo"])
def test_roles_that_do_not_log_contacts_cannot_upload(
    client, logged_in, make_phone_contact, sample_file, db_session, role
):
    contact = make_phone_contact()
    logged_in(role)
    assert upload(client, contact, sample_file()).status_code == 403
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Recording)) == 0


def test_the_same_file_twice_is_stored_once_and_another_file_is_a_conflict(
    client, logged_in, make_phone_contact, sample_file, db_session
):
    contact = make_phone_contact()
    path = sample_file()
    logged_in("agent")
    assert upload(client, contact, path).status_code == 302
    again = upload(client, contact, path)
    assert again.status_code == 302
    assert "already stored" in client.get(again.headers["Location"]).get_data(as_text=True)
    other = upload(client, contact, sample_file(frequency=880))
    assert other.status_code == 409
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Recording)) == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0
