"""`flask seed-demo-data`: synthetic data through the real services, development only."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from stdnum.fi import hetu

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.config import PRODUCTION, Settings
from cs_register.contacts.models import Channel, Contact
from cs_register.crypto import Keyring
from cs_register.customers.models import Customer
from cs_register.customers.services import decrypt_identity_code
from cs_register.db import Base, Database
from cs_register.demo_synthetic import people
from cs_register.staff.models import StaffUser
from recordings.audio import inspect_audio
from recordings.models import Recording, RecordingHold
from tests.conftest import FrozenClock

SMALL = [
    "--customers", "6", "--calls", "5", "--recordings", "3", "--emails", "4", "--chats", "4",
    "--holds", "2", "--seed", "7",
]  # fmt: skip


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - the command's own seeded, non-secret generator


@pytest.fixture
def seed(app: Flask, make_staff: Callable[..., StaffUser]) -> Callable[..., Result]:
    make_staff("agent", username="agent")
    make_staff("supervisor", username="supervisor")
    return lambda *args: app.test_cli_runner().invoke(args=["seed-demo-data", *args])


def _everything_in_the_database(database: Database) -> str:
    """Every value of every row as text (bytes as hex and as text)."""
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


def test_it_fills_every_channel_through_the_services(
    seed: Callable[..., Result],
    app: Flask,
    database: Database,
    keyring: Keyring,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    result = seed(*SMALL)

    assert result.exit_code == 0, result.output
    assert "customers:      6" in result.output
    with database.session_factory() as session:
        contacts = session.scalars(sa.select(Contact)).all()
        channels = {channel: [c for c in contacts if c.channel is channel] for channel in Channel}
        assert [len(channels[c]) for c in (Channel.PHONE, Channel.EMAIL, Channel.CHATBOT)] == [
            5,
            4,
            4,
        ]
        # Unknown callers and senders: every channel leaves work in the unidentified queue.
        for channel in (Channel.PHONE, Channel.EMAIL, Channel.CHATBOT):
            assert any(c.customer_id is None for c in channels[channel]), channel
            assert any(c.customer_id is not None for c in channels[channel]), channel
        # Spread over the last 80 days, none in the future.
        assert all(
            clock.now - timedelta(days=81)
            < c.occurred_at.replace(tzinfo=clock.now.tzinfo)
            <= clock.now
            for c in contacts
        )

        recordings = session.scalars(sa.select(Recording)).all()
        assert len(recordings) == 3
        storage = app.extensions["cs_register.storage"]
        for recording in recordings:
            assert recording.playback_key
            copy = tmp_path / f"{recording.public_id}.mp3"
            copy.write_bytes(b"".join(storage.open(recording.playback_key)))
            assert inspect_audio(copy).duration_seconds > 2

        holds = session.scalars(sa.select(RecordingHold)).all()
        assert {hold.reason.value for hold in holds} == {"quality_development", "complaint"}
        soonest = min(hold.ends_at for hold in holds).replace(tzinfo=clock.now.tzinfo)
        assert soonest - clock.now < timedelta(days=5)

        # The same seed makes the same people: these, with their codes encrypted.
        expected = people(_rng(7), 6)
        customers = session.scalars(sa.select(Customer)).all()
        assert sorted(
            (c.given_names, c.family_name, decrypt_identity_code(keyring, c)) for c in customers
        ) == sorted((p.given_names, p.family_name, p.identity_code) for p in expected)

        actions = session.scalars(sa.select(AuditEvent.action)).all()
        for action, count in [
            (AuditAction.CUSTOMER_CREATED, 6),
            (AuditAction.CALL_REGISTERED, 5),
            (AuditAction.EMAIL_CONTACT_RECEIVED, 4),
            (AuditAction.CHATBOT_CONTACT_RECEIVED, 4),
            (AuditAction.HOLD_PLACED, 2),
        ]:
            assert actions.count(action) == count, action

    everything = _everything_in_the_database(database).upper()
    for person in expected:
        assert hetu.is_valid(person.identity_code)
        assert person.identity_code not in everything


def test_a_register_with_customers_is_refused_unless_forced(
    seed: Callable[..., Result], database: Database
) -> None:
    assert seed(*SMALL).exit_code == 0

    again = seed(*SMALL)
    forced = seed("--customers", "2", "--calls", "1", "--recordings", "0", "--seed", "8", "--force")

    assert again.exit_code == 1
    assert "already has 6 customers; nothing was added" in again.output
    assert forced.exit_code == 0, forced.output
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 8


def test_it_is_refused_in_production(
    seed: Callable[..., Result], app: Flask, settings: Settings, database: Database
) -> None:
    app.extensions["cs_register.settings"] = dataclasses.replace(
        settings,
        env=PRODUCTION,
        password_hash_time_cost=2,
        password_hash_memory_kib=19 * 1024,
        cookie_secure=True,
        two_step_login="required",
    )

    result = seed(*SMALL)

    assert result.exit_code == 1
    assert "refused in production" in result.output
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_it_needs_the_demo_accounts_to_act_as(app: Flask, database: Database) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo-data", *SMALL])

    assert result.exit_code == 1
    assert "flask seed-demo-staff" in result.output
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_the_same_seed_makes_the_same_people() -> None:
    assert people(_rng(3), 5) == people(_rng(3), 5)
    assert people(_rng(3), 5) != people(_rng(4), 5)
