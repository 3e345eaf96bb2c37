"""The telephony intake API end to end: real HTTP through the Flask test client, a real database,
real files under the app's storage root and the bundled ffmpeg validating every upload.

Audio is generated per test by `audio_samples`; nothing binary is committed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.integrations import services as token_services
from recordings.audio import ffmpeg_executable
from recordings.models import Call, Recording
from recordings.storage import LocalStorage
from tests.recordings.audio_samples import (
    EXPECTED_CODECS,
    FORMATS,
    MULTICHANNEL_FORMATS,
    corrupt,
    truncate,
)
from tests.recordings.storage_support import staging_folder
from tests.support.context import make_context
from tests.support.telephony import CALLS_URL, Api, recording_url

CALLER = "+358401234567"
TELEPHONY_CODECS = {"pcm_mulaw", "pcm_alaw", "gsm", "gsm_ms"}


@pytest.fixture
def storage(app: Flask) -> LocalStorage:
    return app.extensions["cs_register.storage"]  # type: ignore[no-any-return]


@pytest.fixture
def token(database: Database, clock: Any) -> str:
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(
            make_context(session, None, clock.now), name="pbx-test"
        )
    return raw


@pytest.fixture
def api(client: FlaskClient, token: str, clock: Any) -> Api:
    return Api(client, token, clock)


@pytest.fixture
def sample(tmp_path: Path) -> Callable[..., bytes]:
    """`sample("mp3", channels=2)`: the bytes of a freshly generated file of that format."""
    counter = itertools.count()

    def _sample(
        audio_format: str = "wav_pcm16",
        *,
        damage: Callable[[Path], Path] | None = None,
        **kwargs: Any,
    ) -> bytes:
        writer, _ = FORMATS[audio_format]
        path = writer(tmp_path / "samples" / f"{next(counter)}.{audio_format}", **kwargs)
        if damage is not None:
            damage(path)
        return path.read_bytes()

    return _sample


def rows(database: Database, model: type[Any]) -> list[Any]:
    with database.session_factory() as session:
        return list(session.scalars(sa.select(model).order_by(model.id)))


def audit(database: Database, action: AuditAction) -> list[AuditEvent]:
    with database.session_factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def assert_nothing_stored(database: Database, storage: LocalStorage) -> None:
    assert rows(database, Recording) == []
    assert list(storage.iter_keys()) == []
    staging = staging_folder(storage)
    assert not staging.exists() or list(staging.iterdir()) == []
    assert audit(database, AuditAction.RECORDING_STORED) == []


def assert_clean_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "ffmpeg", "Stream #", "Input #", 'File "', "upload-", ".staging"):
        assert leak not in text
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


# --- calls ----------------------------------------------------------------------------------


@pytest.mark.parametrize("withheld", [None, "", "anonymous", "Withheld", " PRIVATE ", "absent"])
def test_a_call_from_a_withheld_number_is_still_a_call(
    api, database, sample, make_customer, withheld
):
    make_customer(phone="040 123 4567")  # nobody is guessed for a withheld caller
    payload = api.call_payload()
    if withheld == "absent":
        del payload["customer_number"]
    else:
        payload["customer_number"] = withheld
    response = api.client.post(CALLS_URL, json=payload, headers=api.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["customer_linked"] is False
    (call,) = rows(database, Call)
    (contact,) = rows(database, Contact)
    assert call.customer_number is None
    assert (contact.customer_id, contact.subject) == (None, "Inbound call, number withheld")
    # Its recording is kept like any other.
    uploaded = api.upload(payload["external_call_id"], sample("wav_pcm16"))
    assert uploaded.status_code == 201, uploaded.get_json()


@pytest.mark.parametrize("number", ["not a number", "+358 1", 358401234567, ["anonymous"]])
def test_a_number_that_is_neither_a_number_nor_withheld_is_refused(api, database, number):
    response = api.register(customer_number=number)
    assert response.status_code == 422
    assert "customer_number" in response.get_json()["errors"]
    assert rows(database, Call) == []


def test_registering_a_call_creates_an_unlinked_phone_contact(api, database, clock, make_staff):
    agent = make_staff("agent", username="maija")
    payload = api.call_payload(external_call_id="pbx:2026-11-23@42", agent_username="Maija")

    response = api.client.post(CALLS_URL, json=payload, headers=api.headers)

    assert response.status_code == 201
    body = response.get_json()
    (call,) = rows(database, Call)
    (contact,) = rows(database, Contact)
    assert body == {
        "call_id": call.public_id,
        "external_call_id": "pbx:2026-11-23@42",
        "contact_id": contact.public_id,
        "direction": "inbound",
        "started_at": (clock.now - timedelta(minutes=10)).isoformat(),
        "ended_at": (clock.now - timedelta(minutes=2)).isoformat(),
        "customer_linked": False,
        "recording": None,
    }
    assert response.headers["Location"] == "/api/v1/calls/pbx:2026-11-23@42"
    assert (call.customer_number, call.agent_id, call.contact_id) == (CALLER, agent.id, contact.id)
    assert call.started_at == clock.now - timedelta(minutes=10)
    assert call.created_at == clock.now
    assert contact.channel is Channel.PHONE
    assert contact.direction is Direction.INBOUND
    assert contact.subject == "Inbound call"
    assert contact.handled_by_id == agent.id
    assert contact.customer_id is None
    assert contact.occurred_at == call.started_at
    assert contact.created_by_id is None


def test_a_call_is_audited_as_the_integration_without_the_number(api, database):
    external_call_id = api.new_call(direction="outbound", customer_number="+358 40 123 4567")

    (event,) = audit(database, AuditAction.CALL_REGISTERED)
    (call,) = rows(database, Call)
    assert call.external_call_id == external_call_id
    assert (event.actor_id, event.actor_label) == (None, "integration:pbx-test")
    assert (event.subject_type, event.subject_id) == ("call", call.public_id)
    (contact,) = rows(database, Contact)
    # Exactly these facts: ids, direction, whether it was linked. Never the number.
    assert event.details == {
        "contact": contact.public_id,
        "direction": "outbound",
        "customer_linked": False,
    }
    assert "401234567" not in json.dumps(event.details)


def test_the_same_call_again_returns_the_first_registration(api, database):
    first = api.register(external_call_id="pbx-77")
    again = api.register(external_call_id="pbx-77")
    # A different story under the same id: the first report wins, nothing is overwritten.
    changed = api.register(
        external_call_id="pbx-77", direction="outbound", customer_number="not a number"
    )

    assert first.status_code == 201
    assert again.status_code == changed.status_code == 200
    assert first.get_json() == again.get_json() == changed.get_json()
    (call,) = rows(database, Call)
    assert call.direction is Direction.INBOUND
    assert len(rows(database, Contact)) == 1
    assert len(audit(database, AuditAction.CALL_REGISTERED)) == 1


def test_get_call_reports_the_registration(api):
    created = api.register(external_call_id="pbx-5").get_json()
    response = api.client.get(f"{CALLS_URL}/pbx-5", headers=api.headers)
    assert response.status_code == 200
    assert response.get_json() == created


def test_get_unknown_call_is_a_404_problem(api):
    body = assert_clean_problem(api.client.get(f"{CALLS_URL}/nope", headers=api.headers), 404)
    assert body["title"] == "Not found"


FIVE_MINUTES_AHEAD = "2026-11-23T09:06:00+00:00"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"external_call_id": None}, "external_call_id"),
        ({"external_call_id": ""}, "external_call_id"),
        ({"external_call_id": "x" * 129}, "external_call_id"),
        ({"external_call_id": "has space"}, "external_call_id"),
        ({"external_call_id": "a/b"}, "external_call_id"),
        ({"external_call_id": 12345}, "external_call_id"),
        ({"direction": "sideways"}, "direction"),
        ({"direction": None}, "direction"),
        ({"direction": 1}, "direction"),
        ({"customer_number": "not a number"}, "customer_number"),
        ({"customer_number": "+358 1"}, "customer_number"),
        ({"customer_number": 358401234567}, "customer_number"),
        ({"agent_username": 7}, "agent_username"),
        ({"started_at": None}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "2026-11-23T08:00:00"}, "started_at"),
        ({"started_at": 1795000000}, "started_at"),
        ({"started_at": FIVE_MINUTES_AHEAD, "ended_at": None}, "started_at"),
        ({"ended_at": FIVE_MINUTES_AHEAD}, "ended_at"),
        ({"ended_at": "2026-11-23T08:40:00+00:00"}, "ended_at"),  # before started_at
        ({"ended_at": "soon"}, "ended_at"),
        ({"ended_at": ["2026-11-23T09:00:00+00:00"]}, "ended_at"),
    ],
)
def test_each_invalid_field_is_named(api, database, overrides, field):
    payload = api.call_payload(**overrides)
    payload = {name: value for name, value in payload.items() if value is not None}

    response = api.client.post(CALLS_URL, json=payload, headers=api.headers)

    body = assert_clean_problem(response, 422)
    assert list(body["errors"]) == [field]
    assert "401234567" not in response.get_data(as_text=True)
    assert rows(database, Call) == []
    assert rows(database, Contact) == []


def test_a_field_error_is_in_the_language_the_pbx_asks_for(api):
    payload = api.call_payload(direction="sideways")

    response = api.client.post(
        CALLS_URL, json=payload, headers={**api.headers, "Accept-Language": "fi"}
    )

    body = assert_clean_problem(response, 422)
    assert body["errors"]["direction"] == ['On oltava "inbound" tai "outbound".']


def test_a_call_without_optional_fields_is_accepted(api, database):
    payload = api.call_payload()
    del payload["agent_username"], payload["ended_at"]
    response = api.client.post(CALLS_URL, json=payload, headers=api.headers)
    assert response.status_code == 201
    (call,) = rows(database, Call)
    assert (call.agent_id, call.ended_at) == (None, None)


def test_offsets_and_z_are_both_understood(api, database, clock):
    api.new_call(started_at="2026-11-23T10:30:00+02:00", ended_at="2026-11-23T08:45:00Z")
    (call,) = rows(database, Call)
    assert call.started_at == clock.now - timedelta(minutes=30)
    assert call.ended_at == clock.now - timedelta(minutes=15)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"text"', "application/json", 400),
        ("external_call_id=x", "application/x-www-form-urlencoded", 415),
        ("{}", "text/plain", 415),
    ],
)
def test_the_body_must_be_a_json_object(api, database, data, content_type, status):
    response = api.client.post(CALLS_URL, data=data, content_type=content_type, headers=api.headers)
    assert_clean_problem(response, status)
    assert rows(database, Call) == []


def test_a_call_links_to_the_only_customer_with_that_number(api, database, make_customer, clock):
    customer = make_customer(phone="+358401234567")
    make_customer(given_names="Other", phone="+358409999999")

    body = api.register(customer_number="040 1234567").get_json()

    assert body["customer_linked"] is True
    (contact,) = rows(database, Contact)
    with database.session_factory() as session:
        stored = session.get(Customer, contact.customer_id)
        assert stored.public_id == customer.public_id
        assert stored.last_contact_at == clock.now - timedelta(minutes=10)
    (event,) = audit(database, AuditAction.CALL_REGISTERED)
    assert event.details["customer_linked"] is True
    assert event.details["customer"] == customer.public_id


def test_a_number_shared_by_two_customers_is_left_for_an_agent(api, database, make_customer):
    make_customer(given_names="Anna", phone="+358401234567")
    make_customer(given_names="Pekka", phone="040 123 4567")

    body = api.register().get_json()

    assert body["customer_linked"] is False
    (contact,) = rows(database, Contact)
    assert contact.customer_id is None
    with database.session_factory() as session:
        assert session.scalars(sa.select(Customer.last_contact_at)).all() == [None, None]


def test_an_unknown_number_is_left_unlinked(api, database, make_customer):
    make_customer(phone="+358409999999")
    assert api.register().get_json()["customer_linked"] is False


def test_a_later_link_by_an_agent_shows_in_the_call_report(api, database, make_customer):
    customer = make_customer(phone="+358409999999")
    external_call_id = api.new_call()
    with database.unit_of_work() as session:
        contact = session.scalar(sa.select(Contact))
        contact.customer_id = session.scalar(
            sa.select(Customer.id).where(Customer.public_id == customer.public_id)
        )
    body = api.client.get(f"{CALLS_URL}/{external_call_id}", headers=api.headers).get_json()
    assert body["customer_linked"] is True


# --- recordings -----------------------------------------------------------------------------


def check_stored(database, storage, response, sent: bytes, audio_format: str, channels: int):
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    (recording,) = rows(database, Recording)
    digest = hashlib.sha256(sent).hexdigest()
    assert body["recording_id"] == recording.public_id
    assert body["sha256"] == recording.sha256 == digest
    assert body["size_bytes"] == recording.size_bytes == len(sent)
    assert body["codec"] == recording.codec == EXPECTED_CODECS[audio_format]
    assert body["channels"] == recording.channels == channels
    expected_rate = 48000 if audio_format == "ogg_opus" else 8000
    assert body["sample_rate"] == recording.sample_rate == expected_rate
    assert body["duration_seconds"] == pytest.approx(2.0, abs=0.1)
    assert recording.duration_seconds == body["duration_seconds"]
    assert body["container"] == recording.container
    assert body["content_type"] == recording.content_type == FORMATS[audio_format][1]
    assert body["due_at"] == recording.due_at.isoformat()
    # The original is kept byte for byte.
    stored = b"".join(storage.open(recording.storage_key))
    assert hashlib.sha256(stored).hexdigest() == digest
    # Every recording gets an MP3 listening copy (agents play only that), with other bytes.
    assert recording.playback_key is not None
    copy = b"".join(storage.open(recording.playback_key))
    assert copy[:3] == b"ID3" or copy[0] == 0xFF
    assert copy != stored
    assert sorted(storage.iter_keys()) == sorted([recording.storage_key, recording.playback_key])
    return recording


@pytest.mark.parametrize("audio_format", list(FORMATS))
def test_every_format_is_accepted_and_described(api, database, storage, sample, audio_format):
    external_call_id = api.new_call()
    body = sample(audio_format, seconds=2)

    response = api.upload(external_call_id, body, FORMATS[audio_format][1])

    check_stored(database, storage, response, body, audio_format, channels=1)


@pytest.mark.parametrize("audio_format", MULTICHANNEL_FORMATS)
def test_stereo_is_accepted_and_described(api, database, storage, sample, audio_format):
    external_call_id = api.new_call()
    body = sample(audio_format, seconds=2, channels=2)

    response = api.upload(external_call_id, body, FORMATS[audio_format][1])

    check_stored(database, storage, response, body, audio_format, channels=2)


def test_an_upload_is_audited_and_shows_in_the_call_report(api, database, sample, clock):
    external_call_id = api.new_call()
    uploaded = api.upload(external_call_id, sample("mp3")).get_json()

    (event,) = audit(database, AuditAction.RECORDING_STORED)
    assert (event.actor_id, event.actor_label) == (None, "integration:pbx-test")
    assert event.subject_id == uploaded["recording_id"]
    (recording,) = rows(database, Recording)
    (token_row,) = rows(database, token_services.IntegrationToken)
    assert (recording.integration_token_id, recording.uploaded_by_id) == (token_row.id, None)
    # Recorded when the call started unless the PBX says otherwise.
    assert recording.recorded_at == clock.now - timedelta(minutes=10)
    report = api.client.get(f"{CALLS_URL}/{external_call_id}", headers=api.headers).get_json()
    assert report["recording"] == uploaded


def test_the_same_bytes_again_return_the_stored_recording(api, database, storage, sample):
    external_call_id = api.new_call()
    body = sample("wav_pcm16")
    first = api.upload(external_call_id, body)

    again = api.upload(external_call_id, body)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert len(rows(database, Recording)) == 1
    assert len(list(storage.iter_keys())) == 2  # the original and its listening copy
    assert len(audit(database, AuditAction.RECORDING_STORED)) == 1


def test_different_bytes_for_a_recorded_call_are_a_conflict(api, database, storage, sample):
    external_call_id = api.new_call()
    original = sample("wav_pcm16", frequency=440)
    api.upload(external_call_id, original)

    response = api.upload(external_call_id, sample("wav_pcm16", frequency=880))

    assert_clean_problem(response, 409)
    (recording,) = rows(database, Recording)
    assert recording.sha256 == hashlib.sha256(original).hexdigest()
    assert sorted(storage.iter_keys()) == sorted([recording.storage_key, recording.playback_key])
    assert not list(staging_folder(storage).iterdir())


def _random_bytes(size: int) -> bytes:
    return random.Random(5).randbytes(size)  # noqa: S311 - test noise


REJECTED_UPLOADS: dict[str, tuple[Callable[[Callable[..., bytes]], bytes], str]] = {
    "empty body": (lambda sample: b"", "audio/wav"),
    "random bytes": (lambda sample: _random_bytes(20_000), "audio/wav"),
    "text sent as audio": (lambda sample: b"Hello, this is not audio.\n" * 50, "audio/wav"),
    "truncated WAV": (lambda sample: sample("wav_mulaw", damage=truncate), "audio/wav"),
    "truncated FLAC": (lambda sample: sample("flac", damage=truncate), "audio/flac"),
    "truncated MP3": (lambda sample: sample("mp3", damage=truncate), "audio/mpeg"),
    "corrupt M4A": (lambda sample: sample("m4a_aac", damage=corrupt), "audio/mp4"),
    "corrupt Ogg Opus": (lambda sample: sample("ogg_opus", damage=corrupt), "audio/ogg"),
    "truncated WAV-GSM": (lambda sample: sample("wav_gsm", damage=truncate), "audio/wav"),
}


@pytest.mark.parametrize("case", list(REJECTED_UPLOADS))
def test_what_is_not_complete_audio_is_rejected_and_nothing_stays(
    api, database, storage, sample, case
):
    make_body, content_type = REJECTED_UPLOADS[case]
    external_call_id = api.new_call()

    response = api.upload(external_call_id, make_body(sample), content_type)

    body = assert_clean_problem(response, 422)
    assert list(body["errors"]) == ["audio"]
    assert_nothing_stored(database, storage)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/octet-stream", "video/mp4", "audio/", "audio"]
)
def test_a_non_audio_content_type_is_refused(api, database, storage, sample, content_type):
    external_call_id = api.new_call()
    response = api.upload(external_call_id, sample("wav_pcm16"), content_type)
    assert_clean_problem(response, 415)
    assert_nothing_stored(database, storage)


def test_content_type_parameters_are_accepted_and_dropped(api, database, sample):
    external_call_id = api.new_call()
    response = api.upload(external_call_id, sample("wav_pcm16"), "Audio/WAV; codecs=1")
    assert response.status_code == 201
    assert rows(database, Recording)[0].content_type == "audio/wav"


def test_an_upload_for_an_unknown_call_is_a_404(api, database, storage, sample):
    assert_clean_problem(api.upload("never-registered", sample("wav_pcm16")), 404)
    assert_nothing_stored(database, storage)


@pytest.fixture
def small_limit_client(settings, clock, database) -> FlaskClient:
    """A second app on the same database and storage, with a 4 KiB upload limit."""
    limited = create_app(
        settings.with_overrides(max_upload_bytes=4096), clock=clock, database=database
    )
    return limited.test_client()


def test_an_oversized_upload_is_refused_and_nothing_stays(
    api, small_limit_client, database, storage, sample
):
    external_call_id = api.new_call()
    body = sample("wav_pcm16")  # 1 s of 8 kHz 16-bit: 16 KB
    assert len(body) > 4096

    response = small_limit_client.put(
        recording_url(external_call_id),
        data=body,
        headers={**api.headers, "Content-Type": "audio/wav"},
    )

    assert_clean_problem(response, 413)
    assert_nothing_stored(database, storage)


def test_an_oversized_chunked_upload_is_refused_while_streaming(
    api, small_limit_client, database, storage, sample
):
    import io

    external_call_id = api.new_call()
    # No Content-Length: the limit can only be enforced while the body streams in.
    response = small_limit_client.put(
        recording_url(external_call_id),
        input_stream=io.BytesIO(sample("wav_pcm16")),
        headers={**api.headers, "Content-Type": "audio/wav", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert_clean_problem(response, 413)
    assert_nothing_stored(database, storage)


def test_a_recording_older_than_retention_is_not_kept(api, database, storage, sample, clock):
    external_call_id = api.new_call()
    too_old = (clock.now - timedelta(days=100)).isoformat()

    response = api.upload(external_call_id, sample("wav_pcm16"), query=f"?recorded_at={too_old}")

    body = assert_clean_problem(response, 422)
    assert list(body["errors"]) == ["recorded_at"]
    assert_nothing_stored(database, storage)


def test_recorded_at_may_be_given_with_an_unencoded_offset(api, database, sample, clock):
    external_call_id = api.new_call()
    # "+" in a query string means a space unless encoded; PBX scripts often forget.
    response = api.upload(
        external_call_id, sample("wav_pcm16"), query="?recorded_at=2026-11-23T10:55:00+02:00"
    )
    assert response.status_code == 201
    assert rows(database, Recording)[0].recorded_at == clock.now - timedelta(minutes=5)


def test_an_unreadable_recorded_at_is_named(api, database, storage, sample):
    external_call_id = api.new_call()
    response = api.upload(external_call_id, sample("wav_pcm16"), query="?recorded_at=noon")
    assert list(assert_clean_problem(response, 422)["errors"]) == ["recorded_at"]
    assert_nothing_stored(database, storage)


@pytest.fixture
def no_ffmpeg_on_path(tmp_path, monkeypatch):
    """PATH without any ffmpeg: the bundled binary of imageio-ffmpeg must be used."""
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    ffmpeg_executable.cache_clear()
    yield
    ffmpeg_executable.cache_clear()


def test_uploads_work_without_ffmpeg_on_path(api, database, storage, sample, no_ffmpeg_on_path):
    assert shutil.which("ffmpeg") is None
    external_call_id = api.new_call()
    body = sample("gsm")  # needs decoding and an MP3 playback copy: ffmpeg twice over

    response = api.upload(external_call_id, body, "audio/gsm")

    recording = check_stored(database, storage, response, body, "gsm", channels=1)
    assert recording.playback_key is not None
    assert os.path.basename(ffmpeg_executable()).startswith("ffmpeg-")


def test_a_rejection_without_ffmpeg_on_path_is_still_clean(
    api, database, storage, no_ffmpeg_on_path
):
    external_call_id = api.new_call()
    response = api.upload(external_call_id, _random_bytes(5000))
    assert_clean_problem(response, 422)
    assert_nothing_stored(database, storage)
