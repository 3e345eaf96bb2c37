"""Playback and download over real HTTP: byte ranges compared byte for byte with the stored
file, the exact retention boundary, who may hear what, and what the audit trail records."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from cs_register.audit.models import AuditAction
from recordings.byte_ranges import ByteRange, RangeNotSatisfiable, requested_range
from recordings.models import Recording, RecordingState
from recordings.playback_copies import make_playback_copy_for

SECOND = timedelta(seconds=1)


@pytest.fixture
def recording(make_recording):
    return make_recording("wav_pcm16")


@pytest.fixture
def stored_bytes(storage, recording) -> bytes:
    """The original, as received (only supervisors download it)."""
    return b"".join(storage.open(recording.storage_key))


@pytest.fixture
def played_bytes(storage, recording) -> bytes:
    """The listening copy the player streams."""
    return b"".join(storage.open(recording.playback_key))


def audio_url(recording) -> str:
    return f"/recordings/{recording.public_id}/audio"


def download_url(recording) -> str:
    return f"/recordings/{recording.public_id}/download"


# --- whole file and ranges ------------------------------------------------------------------


def test_a_request_without_range_streams_the_whole_listening_copy(
    client, logged_in, recording, played_bytes, stored_bytes, sample_file
):
    logged_in("agent")
    response = client.get(audio_url(recording))
    assert response.status_code == 200
    assert response.get_data() == played_bytes
    # The original is the upload itself (same bytes as a freshly generated copy), and the
    # player serves other bytes: a transcoded copy.
    assert stored_bytes == sample_file("wav_pcm16").read_bytes()
    assert played_bytes != stored_bytes
    assert response.headers["Content-Length"] == str(len(played_bytes))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="recording-{recording.public_id}.mp3"'
    )
    assert "Content-Range" not in response.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # the first bytes
        ("bytes=1000-4999", 1000, 4999),  # the middle
        ("bytes=-300", -300, None),  # a suffix: the last 300 bytes
        ("bytes=5000-", 5000, None),  # open-ended
        ("bytes=0-", 0, None),  # what browsers send first
        ("bytes=100-99999999", 100, None),  # an end beyond the file is clamped
        ("BYTES=10-19", 10, 19),  # the unit is case-insensitive
    ],
)
def test_a_single_range_is_answered_with_206_and_exactly_those_bytes(
    client, logged_in, recording, played_bytes, header, first, last
):
    logged_in("agent")
    size = len(played_bytes)
    start = first if first >= 0 else size + first
    end = size - 1 if last is None else last
    response = client.get(audio_url(recording), headers={"Range": header})
    assert response.status_code == 206
    assert response.get_data() == played_bytes[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "audio/mpeg"


def test_a_suffix_longer_than_the_file_gives_the_whole_file(
    client, logged_in, recording, played_bytes
):
    logged_in("agent")
    response = client.get(audio_url(recording), headers={"Range": "bytes=-99999999"})
    assert response.status_code == 206
    assert response.get_data() == played_bytes
    size = len(played_bytes)
    assert response.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{size}", "bytes=-0"])
def test_an_unsatisfiable_range_is_416_with_the_size(
    client, logged_in, recording, played_bytes, audit_rows, header
):
    logged_in("agent")
    size = len(played_bytes)
    response = client.get(audio_url(recording), headers={"Range": header.format(size=size)})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert response.get_data() == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",  # several ranges: we answer with the whole file (documented)
        "bytes=20-10",  # last before first: invalid, so ignored
        "items=0-10",  # another unit
        "bytes=abc",  # malformed
        "bytes=-",
    ],
)
def test_ranges_we_do_not_honour_get_the_whole_file(
    client, logged_in, recording, played_bytes, header
):
    logged_in("agent")
    response = client.get(audio_url(recording), headers={"Range": header})
    assert response.status_code == 200
    assert response.get_data() == played_bytes
    assert "Content-Range" not in response.headers


def test_if_range_cannot_match_so_the_whole_file_is_sent(
    client, logged_in, recording, played_bytes
):
    logged_in("agent")
    response = client.get(
        audio_url(recording), headers={"Range": "bytes=10-20", "If-Range": '"some-etag"'}
    )
    assert response.status_code == 200
    assert response.get_data() == played_bytes


def test_range_parsing_edge_cases():
    assert requested_range(None, 100) is None
    assert requested_range("bytes=0-0", 100) == ByteRange(0, 0)
    assert requested_range("bytes=99-", 100) == ByteRange(99, 99)
    assert requested_range("bytes=-1", 100) == ByteRange(99, 99)
    with pytest.raises(RangeNotSatisfiable):
        requested_range("bytes=100-", 100)
    with pytest.raises(RangeNotSatisfiable):
        requested_range("bytes=-5", 0)


def test_telephony_codecs_play_from_the_mp3_copy_and_download_the_original(
    client, logged_in, make_recording, storage
):
    recording = make_recording("wav_mulaw")
    assert recording.playback_key is not None
    copy = b"".join(storage.open(recording.playback_key))
    original = b"".join(storage.open(recording.storage_key))
    logged_in("supervisor")

    played = client.get(audio_url(recording))
    assert played.status_code == 200
    assert played.headers["Content-Type"] == "audio/mpeg"
    assert played.get_data() == copy
    assert played.headers["Content-Disposition"].endswith(f'recording-{recording.public_id}.mp3"')
    ranged = client.get(audio_url(recording), headers={"Range": "bytes=100-199"})
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(copy)}"
    assert ranged.get_data() == copy[100:200]

    downloaded = client.get(download_url(recording))
    assert downloaded.status_code == 200
    assert downloaded.get_data() == original
    assert downloaded.headers["Content-Type"] == "audio/wav"


@pytest.mark.parametrize("audio_format", ["wav_pcm16", "mp3", "wav_mulaw"])
@pytest.mark.parametrize("header", [None, "bytes=0-", "bytes=1-", "bytes=-100", "bytes=0-99"])
def test_an_agent_never_receives_the_originals_bytes(
    client, logged_in, make_recording, storage, audio_format, header
):
    recording = make_recording(audio_format)
    original = b"".join(storage.open(recording.storage_key))
    copy = b"".join(storage.open(recording.playback_key))
    logged_in("agent")
    response = client.get(audio_url(recording), headers={"Range": header} if header else {})
    assert response.status_code in (200, 206)
    received = response.get_data()
    # Exactly the listening copy's bytes in that range, and the copy is not the original.
    start = 0
    if "Content-Range" in response.headers:
        start = int(response.headers["Content-Range"].split()[1].split("-")[0])
    assert received == copy[start : start + len(received)]
    assert copy != original
    assert hashlib.sha256(copy).hexdigest() != recording.sha256


def _forget_listening_copy(database, storage, recording):
    with database.unit_of_work() as session:
        row = session.get(Recording, recording.id)
        storage.delete(row.playback_key)
        row.playback_key = None


def test_a_recording_without_a_listening_copy_is_refused_to_agents(
    client, logged_in, recording, stored_bytes, database, storage, audit_rows
):
    """Stored before every recording had a copy: an agent is told why it does not play, a
    supervisor (who may download the original anyway) plays the original."""
    _forget_listening_copy(database, storage, recording)
    logged_in("agent")
    refused = client.get(audio_url(recording))
    assert refused.status_code == 409
    assert "listening copy has not been made" in refused.get_data(as_text=True)
    assert stored_bytes not in refused.get_data()
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []
    logged_in("supervisor")
    played = client.get(audio_url(recording))
    assert played.status_code == 200
    assert played.get_data() == stored_bytes
    assert played.headers["Content-Type"] == "audio/wav"


def test_the_command_makes_the_missing_listening_copies(
    app, client, logged_in, make_recording, database, storage
):
    old = make_recording("wav_pcm16")
    current = make_recording("mp3")
    _forget_listening_copy(database, storage, old)
    kept_key = current.playback_key

    result = app.test_cli_runner().invoke(args=["recordings", "make-playback-copies"])
    assert result.exit_code == 0, result.output
    assert "Made 1 listening copies" in result.output
    with database.unit_of_work() as session:
        made = session.get(Recording, old.id)
        assert made.playback_key is not None
        assert session.get(Recording, current.id).playback_key == kept_key
    logged_in("agent")
    response = client.get(audio_url(old))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.get_data() == b"".join(storage.open(made.playback_key))
    again = app.test_cli_runner().invoke(args=["recordings", "make-playback-copies"])
    assert "Made 0 listening copies" in again.output


def test_a_listening_copy_made_for_a_recording_purged_meanwhile_is_deleted_again(
    make_recording, database, storage
):
    recording = make_recording("wav_pcm16")
    _forget_listening_copy(database, storage, recording)
    original_key = recording.storage_key

    def purge_meanwhile():
        # The first unit of work reads the recording; the purge marks it before the second.
        calls.append(1)
        if len(calls) == 2:
            with database.unit_of_work() as session:
                session.get(Recording, recording.id).state = RecordingState.PURGING
        return database.unit_of_work()

    calls: list[int] = []
    assert not make_playback_copy_for(purge_meanwhile, storage, recording.id, max_bytes=10**8)
    assert list(storage.iter_keys()) == [original_key]


def test_a_missing_audio_file_is_a_404_not_a_crash(client, logged_in, recording, storage):
    storage.delete(recording.playback_key)
    logged_in("agent")
    response = client.get(audio_url(recording))
    assert response.status_code == 404
    assert "could not be found" in response.get_data(as_text=True)


def put_raw(storage, key: str, data: bytes) -> None:
    """Write `data` at `key` past the sealing, as someone with access to the bucket could."""
    with storage.inner.staged_upload() as staged:
        storage.inner.receive(staged, [data], max_bytes=len(data))
        storage.inner.put(key, staged)


def test_an_original_that_lost_its_seal_is_refused_not_served(
    client, logged_in, recording, storage, stored_bytes, database, caplog
):
    """RECORDING_READ_PLAINTEXT=1 serves recordings stored before sealing, but a recording
    whose row says it was sealed must still be: unsealed bytes at its key (swapped in the
    bucket, or the header's first bytes damaged) are not the recording."""
    assert recording.key_version is not None
    assert storage.read_plaintext
    put_raw(storage, recording.storage_key, stored_bytes)
    logged_in("supervisor")

    response = client.get(download_url(recording))

    assert response.status_code == 404
    assert "could not be read" in response.get_data(as_text=True)
    assert stored_bytes[:1000] not in response.get_data()
    assert f"audio of recording {recording.public_id} failed its integrity check" in caplog.text
    # A recording stored before sealing (no key version on its row) is served as it is.
    with database.unit_of_work() as session:
        session.get(Recording, recording.id).key_version = None
    assert client.get(download_url(recording)).get_data() == stored_bytes


# --- download -------------------------------------------------------------------------------


def test_supervisors_download_the_original_as_an_attachment_every_time_audited(
    client, logged_in, recording, stored_bytes, audit_rows
):
    supervisor = logged_in("supervisor")
    for _ in range(2):
        response = client.get(download_url(recording))
        assert response.status_code == 200
        assert response.get_data() == stored_bytes
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="recording-{recording.public_id}.wav"'
        )
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Length"] == str(len(stored_bytes))
    downloads = audit_rows(AuditAction.RECORDING_DOWNLOADED, recording.public_id)
    assert [row.actor_id for row in downloads] == [supervisor.id, supervisor.id]
    # A download is not a play: the two are told apart.
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []


def test_agents_play_but_cannot_download(client, logged_in, recording, audit_rows):
    logged_in("agent")
    assert client.get(audio_url(recording)).status_code == 200
    assert client.get(download_url(recording)).status_code == 403
    assert audit_rows(AuditAction.RECORDING_DOWNLOADED) == []


def test_admins_cannot_play_download_or_open_recordings(client, logged_in, recording, audit_rows):
    logged_in("admin")
    assert client.get(audio_url(recording)).status_code == 403
    assert client.get(download_url(recording)).status_code == 403
    assert client.get(f"/recordings/{recording.public_id}").status_code == 403
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []
    assert audit_rows(AuditAction.RECORDING_VIEWED) == []


def test_without_a_privacy_request_a_dpo_finds_no_recording(
    client, logged_in, recording, audit_rows
):
    # The DPO opens only the recordings an open privacy request concerns (recordings.access;
    # tests/cs_register/privacy); any other recording does not exist for them.
    logged_in("dpo")
    assert client.get(audio_url(recording)).status_code == 404
    assert client.get(download_url(recording)).status_code == 403
    assert client.get(f"/recordings/{recording.public_id}").status_code == 404
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []
    assert audit_rows(AuditAction.RECORDING_VIEWED) == []


def test_anonymous_requests_for_audio_go_to_login(client, recording):
    response = client.get(audio_url(recording))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- one audit row per play ---------------------------------------------------------------


def test_a_play_is_audited_once_not_once_per_range_chunk(
    client, logged_in, recording, stored_bytes, audit_rows, clock, login
):
    agent = logged_in("agent")
    size = len(stored_bytes)
    # One play in a browser: the first request from byte 0, then the rest in ranges.
    client.get(audio_url(recording), headers={"Range": "bytes=0-"})
    client.get(audio_url(recording), headers={"Range": "bytes=4096-"})
    client.get(audio_url(recording), headers={"Range": f"bytes=8192-{size - 1}"})
    client.get(audio_url(recording), headers={"Range": "bytes=-100"})
    plays = audit_rows(AuditAction.RECORDING_PLAYED, recording.public_id)
    assert len(plays) == 1
    assert plays[0].actor_id == agent.id
    assert plays[0].subject_type == "recording"

    # Replaying within the listening session is the same listening.
    client.get(audio_url(recording))
    client.get(audio_url(recording), headers={"Range": "bytes=0-1"})
    assert len(audit_rows(AuditAction.RECORDING_PLAYED, recording.public_id)) == 1

    # Listening again later is a new listening, from whatever byte it starts.
    clock.advance(timedelta(minutes=5))
    login(client, agent)
    client.get(audio_url(recording), headers={"Range": "bytes=1-"})
    assert len(audit_rows(AuditAction.RECORDING_PLAYED, recording.public_id)) == 2


def test_a_listening_that_skips_the_first_byte_is_audited_too(
    client, logged_in, recording, stored_bytes, audit_rows, make_staff, login
):
    """`Range: bytes=1-` plays all but one byte: it is a listening like any other."""
    agent = logged_in("agent")
    response = client.get(audio_url(recording), headers={"Range": "bytes=1-"})
    assert response.status_code == 206
    (play,) = audit_rows(AuditAction.RECORDING_PLAYED, recording.public_id)
    assert play.actor_id == agent.id
    # Another staff member's listening at the same time is theirs, audited on its own.
    colleague = make_staff("supervisor")
    login(client, colleague)
    client.get(audio_url(recording), headers={"Range": "bytes=100-"})
    plays = audit_rows(AuditAction.RECORDING_PLAYED, recording.public_id)
    assert [p.actor_id for p in plays] == [agent.id, colleague.id]


def test_a_head_request_delivers_no_audio_and_is_not_audited(
    client, logged_in, recording, played_bytes, audit_rows
):
    logged_in("agent")
    response = client.head(audio_url(recording))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(played_bytes))
    assert response.get_data() == b""
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []


# --- the retention boundary ---------------------------------------------------------------


def test_audio_is_gone_at_exactly_the_due_instant_and_served_one_second_before(
    client, make_staff, login, recording, clock, stored_bytes
):
    supervisor = make_staff("supervisor")
    due = recording.due_at
    clock.set(due - SECOND)
    # Months have passed: log in afresh (a login session idles out after 30 minutes).
    login(client, supervisor)
    assert client.get(audio_url(recording)).status_code == 200
    assert client.get(audio_url(recording), headers={"Range": "bytes=10-20"}).status_code == 206
    assert client.get(download_url(recording)).status_code == 200

    clock.set(due)
    # Before any purge has run, the audio still exists on disk, yet nobody may hear it.
    for url, headers in (
        (audio_url(recording), {}),
        (audio_url(recording), {"Range": "bytes=10-20"}),
        (download_url(recording), {}),
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 410
        assert "retention period has ended" in response.get_data(as_text=True)
        assert response.get_data() != stored_bytes


def test_gone_audio_is_not_audited_as_played(client, logged_in, recording, clock, audit_rows):
    clock.set(recording.due_at + timedelta(days=1))
    logged_in("agent")
    assert client.get(audio_url(recording)).status_code == 410
    assert audit_rows(AuditAction.RECORDING_PLAYED) == []


def test_an_unknown_recording_is_404(client, logged_in):
    logged_in("agent")
    assert client.get("/recordings/00000000-0000-4000-8000-000000000000/audio").status_code == 404
