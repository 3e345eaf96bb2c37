"""Fixtures for the cross-cutting route walkers (test_access, test_csrf): real rows to fill URL
arguments with, a way to build every rule's URL, and database snapshots.

Names are prefixed (`route_`, `console_`, `db_`) so they cannot collide with fixtures of the
domain test folders below this one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import Rule

from cs_register.db import Base, Database
from cs_register.integrations.models import IntegrationToken
from cs_register.permissions import Role
from cs_register.staff.models import StaffUser
from recordings.models import HoldReason, Recording, RecordingHold, RecordingState
from tests.support.context import make_context

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ConsoleObjects:
    """Public ids of real rows, so that URL arguments resolve to something that exists."""

    customer: str
    contact: str
    staff: str
    recording: str
    hold: str
    integration_token: str


@pytest.fixture
def console_objects(database: Database, clock: Any, keyring: Any) -> ConsoleObjects:
    """A customer (with identity code and phone), an unlinked contact with a purged recording
    and a hold on it, an integration token, and a staff account.

    The staff row is inserted directly with an unusable password hash: nobody logs in as it,
    and skipping argon2 keeps the hundred-odd matrix cases quick.
    """
    from cs_register.contacts import services as contact_services
    from cs_register.customers import services as customer_services

    with database.unit_of_work() as session:
        staff = StaffUser(
            username="route-target",
            display_name="Route Target",
            role=Role.AGENT,
            password_hash="!unusable",
            password_changed_at=clock.now,
            created_at=clock.now,
        )
        session.add(staff)
        session.flush()
        customer = customer_services.create_customer(
            make_context(session, staff, clock.now),
            keyring,
            form={
                "given_names": "Reitti",
                "family_name": "Testaaja",
                "identity_code": "131052-308T",
                "phone": "+358401234567",
            },
        )
        # Unlinked, so the "link" pages have something to do.
        contact = contact_services.log_contact(
            make_context(session, staff, clock.now),
            form={
                "channel": "phone",
                "direction": "inbound",
                "occurred_at": "",
                "subject": "Route walker contact",
                "notes": "",
                "verification_outcome": "not_attempted",
            },
        )
        recording, hold = _purged_recording_with_hold(session, contact.id, staff.id, clock.now)
        token = IntegrationToken(
            name="route-walker",
            token_hash="0" * 64,
            token_prefix="route",
            created_at=clock.now,
            created_by_id=staff.id,
        )
        session.add(token)
        session.flush()
        return ConsoleObjects(
            customer=customer.public_id,
            contact=contact.public_id,
            staff=staff.public_id,
            recording=recording.public_id,
            hold=hold.public_id,
            integration_token=token.public_id,
        )


def _purged_recording_with_hold(
    session: Any, contact_id: int, staff_id: int, now: datetime
) -> tuple[Recording, RecordingHold]:
    """A recording row whose audio is already gone (purged), so no storage is needed, with a
    hold on it: enough for every recordings URL to resolve to a real row."""
    recording = Recording(
        contact_id=contact_id,
        state=RecordingState.PURGED,
        storage_key=None,
        sha256="0" * 64,
        size_bytes=0,
        content_type="audio/wav",
        container="wav",
        codec="pcm_s16le",
        sample_rate=8000,
        channels=1,
        duration_seconds=1.0,
        recorded_at=now,
        due_at=now,
        uploaded_at=now,
        uploaded_by_id=staff_id,
        purged_at=now,
        purge_reason="retention",
    )
    session.add(recording)
    session.flush()
    hold = RecordingHold(
        recording_id=recording.id,
        reason=HoldReason.COMPLAINT,
        reference="ROUTE-1",
        justification="Route walker hold",
        placed_by_id=staff_id,
        placed_at=now,
        ends_at=now + timedelta(days=30),
    )
    session.add(hold)
    session.flush()
    return recording, hold


def rule_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - IGNORED_METHODS)


def console_rules(app: Flask) -> list[Rule]:
    """Every rule outside /api/ (integrations authenticate differently), in a stable order."""
    return sorted(
        (rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/api/")),
        key=lambda rule: (rule.endpoint, rule.rule),
    )


def argument_value(rule: Rule, name: str, objects: ConsoleObjects | None) -> Any:
    """A value for one URL argument: a real row's public id where the blueprint implies one."""
    if rule.endpoint == "static":
        return "console.css"
    converter = type(rule._converters[name]).__name__ if name in rule._converters else ""
    if converter == "IntegerConverter":
        return 1
    if objects is None:
        return str(uuid.uuid4())
    blueprint = rule.endpoint.split(".", 1)[0]
    lowered = name.lower()
    # An argument's name wins ("contact_public_id"); a bare "public_id" belongs to the
    # blueprint's own kind of row.
    by_name = {
        "hold": objects.hold,
        "contact": objects.contact,
        "customer": objects.customer,
        "recording": objects.recording,
        "token": objects.integration_token,
        "staff": objects.staff,
        "user": objects.staff,
    }
    for fragment, value in by_name.items():
        if fragment in lowered:
            return value
    by_blueprint = {
        "contacts": objects.contact,
        "customers": objects.customer,
        "recordings": objects.recording,
        "integrations": objects.integration_token,
        "admin": objects.staff,
        "privacy": objects.customer,
    }
    return by_blueprint.get(blueprint, str(uuid.uuid4()))


def build_url(app: Flask, rule: Rule, objects: ConsoleObjects | None = None) -> str:
    values = {name: argument_value(rule, name, objects) for name in rule.arguments}
    url = rule.build(values, append_unknown=False)
    assert url is not None, f"cannot build a URL for {rule.endpoint}"
    # Rule.build returns (domain part, path); the path is all a test client needs.
    return url[1]


@pytest.fixture
def route_url(app: Flask) -> Callable[..., str]:
    """`route_url(rule, objects=None)`: the rule's URL with its arguments filled in."""

    def _url(rule: Rule, objects: ConsoleObjects | None = None) -> str:
        return build_url(app, rule, objects)

    return _url


def snapshot_tables(database: Database, *, exclude: frozenset[str] = frozenset()) -> dict:
    """Every row of every table (sorted, as text): equal snapshots mean nothing was written."""
    snapshot: dict[str, list[str]] = {}
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in exclude:
                continue
            rows = connection.execute(sa.select(table)).all()
            snapshot[table.name] = sorted(repr(tuple(row)) for row in rows)
    return snapshot


@pytest.fixture
def db_snapshot(database: Database) -> Callable[..., dict]:
    def _snapshot(*, exclude: frozenset[str] | set[str] = frozenset()) -> dict:
        return snapshot_tables(database, exclude=frozenset(exclude))

    return _snapshot
