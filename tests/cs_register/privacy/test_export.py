"""The access and portability download: a ZIP with everything held about the person, valid
against its published schema, with the audio byte for byte and who looked at the data."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.db import get_database
from cs_register.integrations import services as token_services
from cs_register.privacy import downloads, export, export_data
from cs_register.privacy.models import ExportStatus, PrivacyExport
from cs_register.privacy.web import current_export_inputs
from recordings.models import Call, Recording
from tests.recordings.audio_samples import FORMATS
from tests.support.context import make_context
from tests.support.telephony import Api

CODE = "131052-308T"
PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def customer_who_called(app, client, database, clock, make_customer, logged_in, tmp_path):
    """A customer with an identity code who called (recorded), and whom an agent looked up."""
    customer = make_customer(identity_code=CODE, phone="0401234567", email="matti@example.fi")
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    api = Api(client, raw, clock)
    call_id = api.new_call(customer_number="+358401234567")
    writer, _ = FORMATS["wav_pcm16"]
    audio = writer(tmp_path / "call.wav", seconds=1).read_bytes()
    assert api.upload(call_id, audio).status_code == 201
    logged_in("agent")
    assert client.get(f"/customers/{customer.public_id}").status_code == 200
    client.post(
        f"/customers/{customer.public_id}/identity-code", data={"purpose": "Contract change"}
    )
    return customer, audio


def build_pending(app, clock):
    """Build every queued export the way the periodic job does, with the app's own parts."""
    with app.app_context():
        database = get_database(app)
        with database.session_factory() as session:
            waiting = export.exports_to_build(session, now=clock.now)
        return [
            export.build_export(
                database, current_export_inputs(), export_public_id=public_id, now=clock
            )
            for public_id in waiting
        ]


def open_case(client, register, cases, customer, kind="access"):
    register(customer, kind=kind)
    return cases()[-1]


def test_the_download_holds_everything_valid_against_the_published_schema(
    app, client, logged_in, customer_who_called, register, cases, database, clock
):
    customer, audio = customer_who_called
    logged_in("dpo")
    case = open_case(client, register, cases, customer)
    response = client.post(f"/privacy/requests/{case.public_id}/exports", data={"language": "fi"})
    assert response.status_code == 303
    page = client.get(f"/privacy/requests/{case.public_id}").get_data(as_text=True)
    assert "queued and will be built within a few minutes" in page
    assert "<progress" in page

    (built,) = build_pending(app, clock)
    assert built is not None
    assert built.status is ExportStatus.READY
    assert built.expires_at == clock.now + timedelta(days=7)
    page = client.get(f"/privacy/requests/{case.public_id}").get_data(as_text=True)
    assert f"/privacy/exports/{built.public_id}/download" in page

    download = client.get(f"/privacy/exports/{built.public_id}/download")
    assert download.status_code == 200
    assert download.headers["Cache-Control"] == "no-store"
    body = download.get_data()
    assert hashlib.sha256(body).hexdigest() == built.sha256
    archive = zipfile.ZipFile(io.BytesIO(body))
    data = json.loads(archive.read("data.json"))
    jsonschema.validate(data, export_data.schema())
    assert data["customer"]["identity_code"] == CODE  # in full: it is the person's own
    assert data["customer"]["phone"] == "+358401234567"
    categories = {record["category"] for record in data["records"]}
    assert {"Customer record", "Contact", "Call", "Call recording", "Privacy request"} <= categories

    with database.session_factory() as session:
        recording = session.scalars(sa.select(Recording)).one()
    (listed,) = data["recordings"]
    assert listed["reference"] == recording.public_id
    assert listed["sha256"] == recording.sha256 == hashlib.sha256(audio).hexdigest()
    assert archive.read(listed["file"]) == audio

    seen = {(event["staff"], event["role"], event["action"]) for event in data["access_log"]}
    assert ("Test Agent", "agent", "customer_viewed") in seen
    assert ("Test Agent", "agent", "identity_code_revealed") in seen
    summary = archive.read("summary.html").decode()
    assert "Sinusta tallennetut tiedot" in summary
    assert "Kuka on katsonut tietojasi" in summary
    assert CODE in summary

    with database.session_factory() as session:
        actions = list(
            session.scalars(
                sa.select(AuditEvent.action).where(AuditEvent.subject_id == built.public_id)
            )
        )
    assert actions == [
        AuditAction.PRIVACY_EXPORT_REQUESTED,
        AuditAction.PRIVACY_EXPORT_BUILT,
        AuditAction.PRIVACY_EXPORT_DOWNLOADED,
    ]
    # Only the DPO downloads it.
    logged_in("supervisor")
    assert client.get(f"/privacy/exports/{built.public_id}/download").status_code == 403


def test_the_schema_is_published_and_the_copy_in_docs_is_the_same(client, logged_in):
    logged_in("dpo")
    served = client.get("/privacy/export-schema/v1.json")
    assert served.status_code == 200
    documented = json.loads((PROJECT_ROOT / "docs" / "privacy-export.schema.v1.json").read_text())
    assert served.get_json() == documented == export_data.schema()
    jsonschema.Draft202012Validator.check_schema(documented)


@pytest.mark.parametrize("kind", ["erasure", "objection", "complaint"])
def test_only_access_and_portability_requests_get_a_download(
    client, logged_in, make_customer, register, cases, database, kind
):
    customer = make_customer()
    logged_in("dpo")
    case = open_case(client, register, cases, customer, kind=kind)
    refused = client.post(f"/privacy/requests/{case.public_id}/exports", data={"language": "fi"})
    assert refused.status_code == 409
    assert "Only access and portability requests" in refused.get_data(as_text=True)
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PrivacyExport)) == 0


def test_an_export_is_deleted_when_its_time_is_up_and_then_gone(
    app, client, logged_in, login, make_customer, register, cases, database, clock
):
    customer = make_customer(identity_code=CODE)
    dpo = logged_in("dpo")
    case = open_case(client, register, cases, customer, kind="portability")
    client.post(f"/privacy/requests/{case.public_id}/exports", data={"language": "en"})
    (built,) = build_pending(app, clock)
    storage = app.extensions["cs_register.exports"]
    assert storage.exists(built.storage_key)

    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    with database.unit_of_work() as session:
        assert (
            downloads.delete_expired_exports(make_context(session, None, clock.now), storage) == 0
        )
    clock.advance(timedelta(seconds=1))
    with database.unit_of_work() as session:
        assert (
            downloads.delete_expired_exports(make_context(session, None, clock.now), storage) == 1
        )
    assert not storage.exists(built.storage_key)
    with database.session_factory() as session:
        row = session.scalars(sa.select(PrivacyExport)).one()
    assert (row.status, row.storage_key) == (ExportStatus.DELETED, None)
    login(client, dpo)
    gone = client.get(f"/privacy/exports/{built.public_id}/download")
    assert gone.status_code == 410
    assert "expired" in gone.get_data(as_text=True)


def test_a_build_killed_mid_way_is_built_again_once_stale(
    app, client, logged_in, make_customer, register, cases, database, clock
):
    customer = make_customer(identity_code=CODE)
    logged_in("dpo")
    case = open_case(client, register, cases, customer)
    client.post(f"/privacy/requests/{case.public_id}/exports", data={"language": "fi"})
    # A worker claimed it and died: the row says "building" and nothing was stored.
    with database.unit_of_work() as session:
        session.execute(
            sa.update(PrivacyExport).values(status=ExportStatus.BUILDING, started_at=clock.now)
        )
    assert build_pending(app, clock) == []  # a live build is left alone
    clock.advance(export.STALE_BUILD + timedelta(seconds=1))
    (rebuilt,) = build_pending(app, clock)
    assert rebuilt is not None
    assert rebuilt.status is ExportStatus.READY


def test_the_command_line_builds_an_export_with_a_progress_bar(
    app, logged_in, make_customer, register, cases, database
):
    customer = make_customer(identity_code=CODE)
    logged_in("agent")
    case = open_case(None, register, cases, customer)
    result = app.test_cli_runner().invoke(
        args=["privacy", "export", case.public_id, "--language", "en"]
    )
    assert result.exit_code == 0, result.output
    assert "Building the export" in result.output
    assert "is ready" in result.output
    assert CODE not in result.output
    with database.session_factory() as session:
        row = session.scalars(sa.select(PrivacyExport)).one()
    assert (row.status, row.language, row.steps_done) == (ExportStatus.READY, "en", row.steps_total)


def test_a_call_found_only_by_their_number_is_exported_once_the_dpo_confirms_it(
    app, client, logged_in, make_customer, register, cases, database, clock
):
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    # A call from the number before the customer was in the register: it stays unlinked.
    unlinked_call = Api(client, raw, clock).new_call(customer_number="+358401234567")
    customer = make_customer(phone="0401234567")
    logged_in("dpo")
    case = open_case(client, register, cases, customer)
    page = client.get(f"/privacy/requests/{case.public_id}").get_data(as_text=True)
    assert 'id="to-confirm"' in page
    with database.session_factory() as session:
        call = session.scalar(sa.select(Call).where(Call.external_call_id == unlinked_call))
        assert call is not None
        call_public_id = call.public_id
    assert f'value="{call_public_id}"' in page

    def exported(confirmed: list[str]) -> set[str]:
        client.post(
            f"/privacy/requests/{case.public_id}/exports",
            data={"language": "en", "confirmed": confirmed},
        )
        (built,) = build_pending(app, clock)
        assert built is not None
        body = client.get(f"/privacy/exports/{built.public_id}/download").get_data()
        data = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("data.json"))
        jsonschema.validate(data, export_data.schema())
        return {record["reference"] for record in data["records"]}

    assert call_public_id not in exported([])
    assert call_public_id in exported([call_public_id])


def test_a_build_whose_customer_was_erased_meanwhile_deletes_its_own_file(
    app, client, logged_in, customer_who_called, register, cases, database, clock, settings
):
    customer, _ = customer_who_called
    logged_in("dpo")
    case = open_case(client, register, cases, customer)
    client.post(f"/privacy/requests/{case.public_id}/exports", data={"language": "fi"})

    def erased_meanwhile(done: int, total: int) -> None:
        # What the erasure's row step does to an export still being built.
        with database.unit_of_work() as session:
            session.execute(
                sa.update(PrivacyExport).values(
                    status=ExportStatus.FAILED, failure="the customer was erased"
                )
            )

    with app.app_context():
        with get_database(app).session_factory() as session:
            (waiting,) = export.exports_to_build(session, now=clock.now)
        built = export.build_export(
            get_database(app),
            current_export_inputs(),
            export_public_id=waiting,
            now=clock,
            on_progress=erased_meanwhile,
        )
    assert built is None
    assert not [path for path in settings.export_root.rglob("*") if path.is_file()]
    with database.session_factory() as session:
        (row,) = session.scalars(sa.select(PrivacyExport)).all()
    assert (row.status, row.storage_key) == (ExportStatus.FAILED, None)
