"""Erasure end to end through the console: a customer reached by every channel is erased, with
receipts; a complaint hold keeps its recording until the hold ends; nobody else is touched; and
afterwards nothing in the database, the stored files or the logs leads back to the person."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact
from cs_register.customers.models import Customer
from cs_register.db import Base, Database, get_database
from cs_register.integrations import services as token_services
from cs_register.personal_data import registry as personal_data_registry
from cs_register.privacy import erasure
from cs_register.privacy.erasure_receipts import verify_erasure_ledger
from cs_register.privacy.models import ErasureReceipt, ErasureState, PrivacyRequest, RequestStatus
from cs_register.runtime import build_runtime, current_runtime
from cs_register.sources import build_registry
from recordings import holds
from recordings.ledger import verify_ledger
from recordings.models import PurgeReceipt, Recording, RecordingState
from recordings.sweep import run_sweep
from tests.cs_register.intake.conftest import (  # noqa: F401 - fixtures used below
    conversation,
    make_secret,
    post_chatbot,
    secret,
)
from tests.cs_register.privacy.test_export import build_pending
from tests.recordings.audio_samples import FORMATS
from tests.support.context import make_context
from tests.support.email import build_message
from tests.support.telephony import Api

HETU = "131052-308T"
PHONE = "+358401234567"
NATIONAL_PHONE = "0401234567"
SURNAME = "Kanarialintunen"
EMAIL = "kanarialintu.canary@example.fi"
STREET = "Kanariankuja 7"
CANARIES = (HETU, PHONE, NATIONAL_PHONE, SURNAME, EMAIL, STREET)
EMAIL_URL = "/api/v1/intake/email"


@dataclass
class Person:
    customer: Any
    recordings: list[str]  # public ids
    audio: list[bytes]


@pytest.fixture
def api(client, database, clock) -> Api:
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    return Api(client, raw, clock)


@pytest.fixture
def send_email(client, database, clock) -> Callable[..., Any]:
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(
            make_context(session, None, clock.now), name="relay", scope="email"
        )

    def _send(message_id: str, subject: str, body: str) -> Any:
        raw_message = build_message(
            sender=f"Kaarina {SURNAME} <{EMAIL}>", subject=subject, body=body, message_id=message_id
        )
        response = client.post(
            EMAIL_URL,
            data=raw_message,
            headers={"Authorization": f"Bearer {raw}", "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        return response

    return _send


def _record_call(api: Api, tmp_path: Path, number: str, seconds: int = 1) -> tuple[str, bytes]:
    call_id = api.new_call(customer_number=number)
    writer, _ = FORMATS["wav_pcm16"]
    audio = writer(tmp_path / f"{call_id}.wav", seconds=seconds).read_bytes()
    response = api.upload(call_id, audio)
    assert response.status_code == 201
    return response.get_json()["recording_id"], audio


@pytest.fixture
def person(
    app,
    client,
    database,
    clock,
    make_customer,
    logged_in,
    tmp_path,
    api,
    send_email,
    secret,  # noqa: F811 - the fixtures imported above
    post_chatbot,  # noqa: F811
) -> Person:
    """The canary: reached by phone (two recorded calls), email and chat, verified by an
    agent, corrected once, with an access download on disk; plus a call and an email from
    their number and address that arrived before they were in the register (unlinked)."""
    _, unlinked_audio = _record_call(api, tmp_path, PHONE)
    send_email("<before@example.fi>", f"Olen {SURNAME}", "Soitin eilen.")
    customer = make_customer(
        given_names="Kaarina",
        family_name=SURNAME,
        identity_code=HETU,
        phone=NATIONAL_PHONE,
        email=EMAIL,
        street_address=STREET,
        postal_code="00100",
        city="Helsinki",
    )
    first, first_audio = _record_call(api, tmp_path, PHONE)
    second, second_audio = _record_call(api, tmp_path, PHONE)
    send_email("<after@example.fi>", "Laskuni", f"Terveisin {SURNAME}, {STREET}")
    chat = conversation(customer={"name": f"Kaarina {SURNAME}", "email": EMAIL})
    assert post_chatbot(chat, secret=secret).status_code == 201

    logged_in("agent")
    made = client.post(
        "/contacts/new",
        data={
            "customer": customer.public_id,
            "channel": "phone",
            "direction": "inbound",
            "occurred_at": "2026-11-23T10:45",
            "subject": "Osoitteenmuutos",
            "notes": f"{SURNAME} muuttaa.",
            "verification_outcome": "verified",
            "verify_identity_code": "1",
        },
    )
    assert made.status_code == 302
    edited = client.post(
        f"/customers/{customer.public_id}/edit",
        data={
            "given_names": "Kaarina",
            "family_name": SURNAME,
            "street_address": STREET,
            "postal_code": "00200",
            "city": "Helsinki",
            "phone": NATIONAL_PHONE,
            "email": EMAIL,
            "reason": "Postal code was wrong",
        },
    )
    assert edited.status_code == 302
    client.post(f"/customers/{customer.public_id}/identity-code", data={"purpose": "Contract"})
    return Person(customer, [first, second], [unlinked_audio, first_audio, second_audio])


@pytest.fixture
def bystander(make_customer, api, tmp_path) -> tuple[Any, str]:
    other = make_customer(given_names="Ville", family_name="Sivullinen", phone="0509876543")
    recording, _ = _record_call(api, tmp_path, "+358509876543", seconds=2)
    return other, recording


def _register(client, logged_in, customer, kind: str) -> str:
    logged_in("agent")
    response = client.post(
        f"/customers/{customer.public_id}/privacy-requests/new",
        data={
            "kind": kind,
            "channel": "phone",
            "received_on": "2026-11-23",
            "description": f"{SURNAME} wants everything about them removed.",
            "verified": ["name", "identity_code"],
        },
    )
    assert response.status_code == 303
    return _newest_case(client.application)


def _newest_case(app) -> str:
    with app.app_context(), get_database(app).session_factory() as session:
        newest = session.scalar(sa.select(sa.func.max(PrivacyRequest.id)))
        case = session.get(PrivacyRequest, newest)
        assert case is not None
        return case.public_id


def _access_download(app, client, logged_in, clock, customer) -> None:
    case_id = _register(client, logged_in, customer, "access")
    logged_in("dpo")
    asked = client.post(f"/privacy/requests/{case_id}/exports", data={"language": "fi"})
    assert asked.status_code == 303, asked.get_data(as_text=True)
    (built,) = build_pending(app, clock)
    assert built is not None
    assert built.storage_key is not None
    done = client.post(
        f"/privacy/requests/{case_id}/complete", data={"answer": f"Sent, {SURNAME}."}
    )
    assert done.status_code == 303


def _carry_out(app, clock, case_id: str) -> erasure.ErasureOutcome | None:
    """What the job (or the periodic run) does, with the app's own registry."""
    with app.app_context():
        return erasure.carry_out_erasure(
            get_database(app), personal_data_registry(), public_id=case_id, now=clock
        )


def _ask_erasure(client, logged_in, customer) -> str:
    case_id = _register(client, logged_in, customer, "erasure")
    logged_in("dpo")
    refused = client.post(f"/privacy/requests/{case_id}/erase", data={})
    assert refused.status_code == 422
    assert "Confirm that you checked" in refused.get_data(as_text=True)
    response = client.post(f"/privacy/requests/{case_id}/erase", data={"confirm": "yes"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "will be carried out within a few minutes" in page
    assert 'id="erasure-under-way"' in page
    return case_id


def _rows(database: Database, model: Any) -> list[Any]:
    with database.session_factory() as session:
        return list(session.scalars(sa.select(model)))


def _everything_in_the_database(database: Database) -> str:
    """Every row of every table as text (bytes as hex and as text), to look for canaries."""
    parts: list[str] = []
    with database.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        parts += [value.hex(), value.decode("utf-8", "replace")]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


@pytest.fixture
def cli(app) -> Callable[..., Result]:
    return lambda *args: app.test_cli_runner().invoke(args=list(args))


def _audio_digests(app) -> set[str]:
    """SHA-256 of every stored object's content as the storage serves it: decrypted, so a
    sealed copy of the person's audio is found too (the files on disk are ciphertext)."""
    storage = current_runtime(app).storage
    return {hashlib.sha256(b"".join(storage.open(key))).hexdigest() for key in storage.iter_keys()}


def _stored_files(*roots: Path) -> list[Path]:
    return [path for root in roots if root.exists() for path in root.rglob("*") if path.is_file()]


def test_erasure_removes_the_person_everywhere_and_leaves_receipts(
    app, client, logged_in, clock, database, person, bystander, settings, keyring, caplog, cli
):
    caplog.set_level(logging.DEBUG)
    _access_download(app, client, logged_in, clock, person.customer)
    other, other_recording = bystander
    case_id = _ask_erasure(client, logged_in, person.customer)

    clock.advance(timedelta(minutes=5))
    outcome = _carry_out(app, clock, case_id)
    assert outcome is not None
    receipt = outcome.receipt
    assert receipt.erased == {
        "Call": 3,
        "Call recording": 3,
        "Chatbot conversation": 1,
        "Chatbot delivery": 1,
        "Contact": 7,
        "Customer record": 1,
        "Email": 2,
        "Identity verification": 1,
        "Privacy request": 2,
        "Rectification": 1,
    }
    assert [item["category"] for item in receipt.kept] == ["Audit event"]
    assert _carry_out(app, clock, case_id) is None  # idempotent: nothing left to do

    # The case: completed on time, with the outcome as its answer, and the receipt shown.
    (case,) = [c for c in _rows(database, PrivacyRequest) if c.public_id == case_id]
    assert case.status is RequestStatus.COMPLETED
    assert case.erasure_state is ErasureState.ERASED
    assert case.customer_id is None
    assert "Erased:\n- Call: 3" in (case.answer or "")
    page = client.get(f"/privacy/requests/{case_id}").get_data(as_text=True)
    assert f"Erasure receipt {receipt.sequence}" in page
    assert "Call recording</td><td>3" in page

    # Every recording went through the purge, each with its own receipt, reason erasure.
    purged = {r.public_id: r for r in _rows(database, Recording) if r.public_id != other_recording}
    assert {r.state for r in purged.values()} == {RecordingState.PURGED}
    assert {r.contact_id for r in purged.values()} == {None}
    receipts = _rows(database, PurgeReceipt)
    assert {r.recording_public_id for r in receipts} == set(purged)
    assert {r.reason.value for r in receipts} == {"erasure_request"}
    with database.session_factory() as session:
        assert verify_ledger(session).ok
        assert verify_erasure_ledger(session).ok
    verified = cli("retention", "verify")
    assert verified.exit_code == 0, verified.output
    assert "Erasure ledger OK: 1 receipts" in verified.output

    # Search finds nothing by any identifier; the bystander is untouched.
    for kind, value in (
        ("identity_code", HETU),
        ("phone", NATIONAL_PHONE),
        ("email", EMAIL),
        ("name", SURNAME),
    ):
        found = client.post(
            "/customers/search", data={"kind": kind, "value": value}, follow_redirects=True
        )
        assert "No customer found" in found.get_data(as_text=True), kind
    with database.session_factory() as session:
        assert session.scalar(sa.select(Customer).where(Customer.public_id == other.public_id))
        kept = session.scalar(sa.select(Recording).where(Recording.public_id == other_recording))
        assert kept is not None
        assert kept.state is RecordingState.ACTIVE
        assert session.scalar(sa.select(sa.func.count(Contact.id))) == 1

    # Audit events about the person remain, with ids only.
    events = [e for e in _rows(database, AuditEvent) if e.subject_id == person.customer.public_id]
    assert AuditAction.IDENTITY_CODE_REVEALED in {e.action for e in events}
    actions = {e.action for e in _rows(database, AuditEvent) if e.subject_id == case_id}
    assert {AuditAction.PRIVACY_ERASURE_STARTED, AuditAction.PRIVACY_ERASURE_COMPLETED} <= actions

    # The canaries: in no table, no stored file, no log line.
    everything = _everything_in_the_database(database).lower()
    for canary in CANARIES:
        assert canary.lower() not in everything, canary
    # The blind index is a number: look for it as a number of its own (its digits can turn up
    # inside any hex digest by chance).
    index = keyring.identity_code.blind_index(HETU)
    assert not re.search(rf"(?<![0-9a-f]){index}(?![0-9a-f])", everything)
    files = _stored_files(settings.storage_root, settings.export_root)
    assert not _audio_digests(app) & {hashlib.sha256(audio).hexdigest() for audio in person.audio}
    assert not _stored_files(settings.export_root)  # their download is gone too
    for path in files:
        content = path.read_bytes().lower()
        for canary in CANARIES:
            assert canary.lower().encode() not in content, (path.name, canary)
    for canary in CANARIES:
        assert canary.lower() not in caplog.text.lower(), canary


def test_a_complaint_hold_keeps_its_recording_until_the_hold_ends(
    app, client, logged_in, clock, database, person, make_staff, settings
):
    complaint_on, quality_on = person.recordings
    supervisor = make_staff("supervisor")
    policy = build_runtime(settings).retention
    with database.unit_of_work() as session:
        ctx = make_context(session, supervisor, clock.now)
        for recording, reason in ((complaint_on, "complaint"), (quality_on, "quality_development")):
            holds.place_hold(
                ctx,
                recording_public_id=recording,
                reason=reason,
                reference="CASE-1",
                justification="Handled in the complaint process.",
                ends_on=date(2027, 1, 15),
                policy=policy,
            )
    case_id = _ask_erasure(client, logged_in, person.customer)
    outcome = _carry_out(app, clock, case_id)
    assert outcome is not None
    kept = {item["reference"]: item for item in outcome.receipt.kept}
    assert complaint_on in kept
    assert "complaint hold until 2027-01-1" in kept[complaint_on]["why"]
    assert outcome.receipt.erased["Call recording"] == 2  # the unlinked call's and quality's

    with database.session_factory() as session:
        held = session.scalar(sa.select(Recording).where(Recording.public_id == complaint_on))
        assert held is not None
        assert held.state is RecordingState.ACTIVE
        contact = session.get(Contact, held.contact_id)
        # The recording hangs on a bare contact: no customer, no text.
        assert contact is not None
        assert (contact.customer_id, contact.subject, contact.notes) == (None, "", "")
        gone = session.scalar(sa.select(Recording).where(Recording.public_id == quality_on))
        assert gone is not None
        assert gone.state is RecordingState.PURGED
        assert gone.purge_reason == "erasure_request"
        hold_end = held.due_at
    assert hold_end < held.recorded_at + timedelta(days=90)  # before the normal 3 months end
    # The sweep purges it once the hold ends, not at the end of the normal 3 months.
    storage = build_runtime(settings).storage
    before = run_sweep(
        get_database(app), storage, now=hold_end - timedelta(seconds=1), policy=policy
    )
    assert before.purged == 0
    after = run_sweep(get_database(app), storage, now=hold_end, policy=policy)
    assert after.purged == 1
    with database.session_factory() as session:
        held = session.scalar(sa.select(Recording).where(Recording.public_id == complaint_on))
        assert held is not None
        assert held.state is RecordingState.PURGED
        assert held.purge_reason == "erasure_request"


def test_erasure_is_refused_where_it_does_not_apply(client, logged_in, make_customer, register):
    customer = make_customer()
    access_case = _register(client, logged_in, customer, "access")
    logged_in("dpo")
    response = client.post(f"/privacy/requests/{access_case}/erase", data={"confirm": "yes"})
    assert response.status_code == 409
    assert "Only an erasure request erases the customer." in response.get_data(as_text=True)
    # An erasure request from someone the register does not hold: nothing to erase.
    register(None, kind="erasure", reply_to="letter to the requester")
    nobody = _newest_case(client.application)
    response = client.post(f"/privacy/requests/{nobody}/erase", data={"confirm": "yes"})
    assert response.status_code == 409
    assert "holds no data about this requester" in response.get_data(as_text=True)
    # Started once, it cannot be started again, nor answered by hand while under way.
    erasure_case = _register(client, logged_in, customer, "erasure")
    logged_in("dpo")
    assert (
        client.post(f"/privacy/requests/{erasure_case}/erase", data={"confirm": "yes"}).status_code
        == 303
    )
    again = client.post(f"/privacy/requests/{erasure_case}/erase", data={"confirm": "yes"})
    assert again.status_code == 409
    by_hand = client.post(f"/privacy/requests/{erasure_case}/complete", data={"answer": "Done"})
    assert by_hand.status_code == 409
    assert "The erasure is under way" in by_hand.get_data(as_text=True)


def test_an_agent_cannot_erase(client, logged_in, make_customer):
    customer = make_customer()
    case_id = _register(client, logged_in, customer, "erasure")
    response = client.post(f"/privacy/requests/{case_id}/erase", data={"confirm": "yes"})
    assert response.status_code == 403


def test_a_crash_between_the_steps_is_resumed_and_never_half_erases(
    app, client, logged_in, clock, database, person, settings, monkeypatch
):
    """Killed after the files went but before the rows: every row is still there (the
    transaction rolled back), and the next run finishes the job."""
    case_id = _ask_erasure(client, logged_in, person.customer)
    registry = build_registry(build_runtime(settings))
    customers_source = next(s for s in registry.sources if s.describe().name == "customers")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(type(customers_source), "erase", crash)
    with pytest.raises(RuntimeError):
        erasure.carry_out_erasure(database, registry, public_id=case_id, now=clock)
    monkeypatch.undo()
    # The files went first (each purge committed on its own), the rows are all still there.
    assert {r.state for r in _rows(database, Recording)} == {RecordingState.PURGED}
    assert len(_rows(database, Contact)) == 7
    assert len(_rows(database, Customer)) == 1
    assert _rows(database, ErasureReceipt) == []
    with database.session_factory() as session:
        assert erasure.erasures_to_resume(session) == [case_id]

    outcome = erasure.carry_out_erasure(database, registry, public_id=case_id, now=clock)
    assert outcome is not None
    assert _rows(database, Contact) == []
    assert _rows(database, Customer) == []
    assert len(_rows(database, PurgeReceipt)) == 3  # one each, not one per attempt


def test_a_call_recorded_between_the_steps_is_erased_too(
    app, client, logged_in, clock, database, person, settings, api, tmp_path, monkeypatch
):
    case_id = _ask_erasure(client, logged_in, person.customer)
    registry = build_registry(build_runtime(settings))
    real_erase_files = registry.erase_files
    arrived: list[str] = []

    def files_then_a_new_call(run: Any, scope: Any) -> None:
        real_erase_files(run, scope)
        if not arrived:  # the customer calls again right after the files went
            arrived.append(_record_call(api, tmp_path, PHONE)[0])

    monkeypatch.setattr(registry, "erase_files", files_then_a_new_call)
    outcome = erasure.carry_out_erasure(database, registry, public_id=case_id, now=clock)
    assert outcome is not None
    (late,) = arrived
    recordings = {r.public_id: r for r in _rows(database, Recording)}
    assert recordings[late].state is RecordingState.PURGED
    assert outcome.receipt.erased["Call recording"] == 4
    assert _rows(database, Contact) == []


def test_the_erasure_receipts_form_a_verified_chain(
    app, client, logged_in, clock, database, make_customer, cli
):
    for name in ("Ensimmäinen", "Toinen"):
        customer = make_customer(family_name=name)
        case_id = _ask_erasure(client, logged_in, customer)
        assert _carry_out(app, clock, case_id) is not None
    receipts = sorted(_rows(database, ErasureReceipt), key=lambda r: r.sequence)
    assert [r.sequence for r in receipts] == [1, 2]
    assert receipts[1].previous_hash == receipts[0].receipt_hash
    with database.unit_of_work() as session, pytest.raises(sa.exc.DBAPIError):
        session.execute(sa.update(ErasureReceipt).values(kept=[]))
    result: Result = cli("retention", "verify")
    assert result.exit_code == 0
    assert "Erasure ledger OK: 2 receipts" in result.output


def test_the_cli_carries_out_an_erasure_the_dpo_started(
    client, logged_in, make_customer, cli, database
):
    customer = make_customer(family_name=SURNAME)
    case_id = _register(client, logged_in, customer, "erasure")
    not_started = cli("privacy", "erase", case_id)
    assert not_started.exit_code == 1
    assert "The DPO starts an erasure on its case page" in not_started.output
    assert len(_rows(database, Customer)) == 1

    logged_in("dpo")
    client.post(f"/privacy/requests/{case_id}/erase", data={"confirm": "yes"})
    result = cli("privacy", "erase", case_id)
    assert result.exit_code == 0, result.output
    assert "erased Customer record: 1" in result.output
    assert "Erasure receipt 1" in result.output
    assert SURNAME not in result.output
    again = cli("privacy", "erase", case_id)
    assert again.exit_code == 0
    assert "already erased" in again.output
    assert _rows(database, Customer) == []


# --- after a restore from backup, nothing purged or erased comes back ---


def _backup(database: Database, database_url: str, roots: list[Path], into: Path) -> None:
    """A full copy of the database and of the stored files, as a backup would take them: on
    SQLite the file (every connection closed first), on PostgreSQL a database created from
    it as its template."""
    database.dispose()
    if database_url.startswith("sqlite"):
        into.mkdir()
        shutil.copyfile(database_url.removeprefix("sqlite:///"), into / "db.sqlite3")
    else:
        _copy_postgres_database(database_url, database_url + "_backup")
    for index, root in enumerate(roots):
        shutil.copytree(root, into.parent / f"{into.name}-files-{index}")


def _restore(database: Database, database_url: str, roots: list[Path], backup: Path) -> None:
    database.dispose()
    if database_url.startswith("sqlite"):
        target = Path(database_url.removeprefix("sqlite:///"))
        for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)
        shutil.copyfile(backup / "db.sqlite3", target)
    else:
        _copy_postgres_database(database_url + "_backup", database_url, replace=True)
    for index, root in enumerate(roots):
        shutil.rmtree(root)
        shutil.copytree(backup.parent / f"{backup.name}-files-{index}", root)


def _copy_postgres_database(source_url: str, target_url: str, *, replace: bool = False) -> None:
    source, target = source_url.rsplit("/", 1)[1], target_url.rsplit("/", 1)[1]
    admin = sa.create_engine(
        source_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        if replace:
            conn.execute(sa.text(f'DROP DATABASE "{target}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
    admin.dispose()


def test_a_restore_from_backup_brings_back_nothing_purged_or_erased(
    app,
    client,
    logged_in,
    clock,
    database,
    database_url,
    person,
    bystander,
    settings,
    cli,
    tmp_path,
):
    other, other_recording = bystander
    case_id = _ask_erasure(client, logged_in, person.customer)
    roots = [settings.storage_root, settings.export_root]
    for root in roots:
        root.mkdir(parents=True, exist_ok=True)
    _backup(database, database_url, roots, tmp_path / "backup")

    # After the backup: the person is erased, and the bystander's call is purged when due.
    assert _carry_out(app, clock, case_id) is not None
    clock.advance(timedelta(days=100))
    swept = cli("retention", "sweep")
    assert swept.exit_code == 0, swept.output
    ledgers = tmp_path / "outside-the-backups" / "ledgers.jsonl"
    ledgers.parent.mkdir()
    exported = cli("retention", "export-ledgers", str(ledgers))
    assert exported.exit_code == 0, exported.output
    assert "Exported 4 purge receipts and 1 erasure receipts" in exported.output
    exported_text = ledgers.read_text()
    assert SURNAME not in exported_text
    assert HETU not in exported_text

    _restore(database, database_url, roots, tmp_path / "backup")
    # The restore did bring them back: the customer, their recordings and the audio.
    assert {c.public_id for c in _rows(database, Customer)} == {
        person.customer.public_id,
        other.public_id,
    }
    assert {r.state for r in _rows(database, Recording)} == {RecordingState.ACTIVE}
    assert _rows(database, PurgeReceipt) == []
    restored = _audio_digests(app)
    assert {hashlib.sha256(audio).hexdigest() for audio in person.audio} <= restored

    # An edited file is refused before anything changes.
    lines = ledgers.read_text().splitlines()
    forged = tmp_path / "forged.jsonl"
    forged.write_text(
        "\n".join([lines[0], lines[1].replace("erasure_request", "retention_expired"), *lines[2:]])
    )
    refused = cli("retention", "reapply", str(forged))
    assert refused.exit_code == 1
    assert "the purge ledger in the file is broken" in refused.output
    assert "nothing was changed" in refused.output
    assert len(_rows(database, Customer)) == 2

    result = cli("retention", "reapply", str(ledgers))
    assert result.exit_code == 0, result.output
    assert "4 recordings purged again, 1 customers erased again" in result.output
    assert SURNAME not in result.output

    assert [c.public_id for c in _rows(database, Customer)] == [other.public_id]
    recordings = {r.public_id: r for r in _rows(database, Recording)}
    assert {r.state for r in recordings.values()} == {RecordingState.PURGED}
    assert recordings[other_recording].purge_reason == "retention_expired"
    assert {recordings[p].purge_reason for p in person.recordings} == {"erasure_request"}
    receipts = _rows(database, PurgeReceipt)
    assert sorted(r.recording_public_id for r in receipts) == sorted(recordings)
    assert not _audio_digests(app) & {hashlib.sha256(audio).hexdigest() for audio in person.audio}
    everything = _everything_in_the_database(database).lower()
    for canary in CANARIES:
        assert canary.lower() not in everything, canary
    verified = cli("retention", "verify")
    assert verified.exit_code == 0, verified.output

    again = cli("retention", "reapply", str(ledgers))
    assert again.exit_code == 0, again.output
    assert "0 recordings purged again, 0 customers erased again" in again.output
