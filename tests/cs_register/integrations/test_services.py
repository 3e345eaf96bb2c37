"""Integration tokens at the service layer: creation, storage, revocation, authentication."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from cs_register.audit.models import AuditAction
from cs_register.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from cs_register.integrations import services
from cs_register.integrations.models import IntegrationToken
from cs_register.staff.models import StaffUser
from tests.cs_register.conftest import snapshot_tables
from tests.cs_register.integrations.conftest import audit_events, stored_token
from tests.support.context import make_context


def test_a_created_token_is_returned_once_and_only_its_hash_is_stored(make_token, database, clock):
    row, raw = make_token("pbx-primary")

    assert raw.startswith("csr_")
    assert len(raw) == 4 + 43
    stored = stored_token(database, "pbx-primary")
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert stored.token_prefix == raw[4:12]
    assert stored.created_at == clock.now
    assert stored.last_used_at is None
    assert stored.revoked_at is None
    # Grep every row of every table: the secret part of the token is nowhere, the hash is.
    everything = json.dumps(snapshot_tables(database))
    assert raw[4:] not in everything
    assert raw[12:] not in everything
    assert stored.token_hash in everything


def test_two_tokens_differ(make_token):
    _, first = make_token("pbx-a")
    _, second = make_token("pbx-b")
    assert first != second


@pytest.mark.parametrize("name", ["ab", "x" * 65, "pbx primary", "pbx/1", "pbx+1", "", "   "])
def test_token_names_follow_the_rule(db_session, clock, name):
    with pytest.raises(ValidationFailed) as failure:
        services.create_token(make_context(db_session, None, clock.now), name=name)
    assert failure.value.errors == {"name": [services.NAME_RULE]}


def test_token_names_are_trimmed_and_lower_cased(db_session, clock):
    token, _ = services.create_token(
        make_context(db_session, None, clock.now), name="  PBX-Primary.2_a "
    )
    assert token.name == "pbx-primary.2_a"


def test_token_names_are_unique_even_after_revocation(make_token, db_session, clock):
    row, _ = make_token("pbx-primary")
    with pytest.raises(Conflict):
        services.create_token(make_context(db_session, None, clock.now), name="PBX-primary")
    services.revoke_token(make_context(db_session, None, clock.now), public_id=row.public_id)
    with pytest.raises(Conflict):
        services.create_token(make_context(db_session, None, clock.now), name="pbx-primary")


@pytest.mark.parametrize("role", ["agent", "supervisor", "dpo"])
def test_only_admins_manage_tokens(make_staff, make_token, db_session, clock, role):
    row, _ = make_token("pbx-primary")
    actor = db_session.get(StaffUser, make_staff(role).id)
    with pytest.raises(PermissionDenied):
        services.create_token(make_context(db_session, actor, clock.now), name="pbx-other")
    with pytest.raises(PermissionDenied):
        services.revoke_token(make_context(db_session, actor, clock.now), public_id=row.public_id)
    with pytest.raises(PermissionDenied):
        services.list_tokens(make_context(db_session, actor, None))


def test_creation_and_revocation_are_audited_without_the_token(
    make_staff, db_session, database, clock
):
    admin = db_session.get(StaffUser, make_staff("admin", username="root").id)
    token, raw = services.create_token(
        make_context(db_session, admin, clock.now, request_id="req-create-1"), name="pbx-primary"
    )
    clock.advance(timedelta(hours=1))
    services.revoke_token(make_context(db_session, admin, clock.now), public_id=token.public_id)
    db_session.commit()

    (created,) = audit_events(database, AuditAction.INTEGRATION_TOKEN_CREATED)
    (revoked,) = audit_events(database, AuditAction.INTEGRATION_TOKEN_REVOKED)
    assert (created.actor_label, created.subject_id, created.request_id) == (
        "root",
        token.public_id,
        "req-create-1",
    )
    assert created.details == {"name": "pbx-primary", "prefix": raw[4:12], "scope": "telephony"}
    assert revoked.actor_id == admin.id
    assert raw[12:] not in json.dumps([created.details, revoked.details])


def test_cli_actions_are_audited_as_cli(make_token, db_session, database, clock):
    row, _ = make_token("pbx-primary")
    services.revoke_token(make_context(db_session, None, clock.now), public_id=row.public_id)
    db_session.commit()
    events = audit_events(database, AuditAction.INTEGRATION_TOKEN_CREATED) + audit_events(
        database, AuditAction.INTEGRATION_TOKEN_REVOKED
    )
    assert [(event.actor_id, event.actor_label) for event in events] == [
        (None, "cli"),
        (None, "cli"),
    ]


def test_revoking_twice_or_an_unknown_token_fails(make_token, db_session, clock):
    row, _ = make_token()
    services.revoke_token(make_context(db_session, None, clock.now), public_id=row.public_id)
    with pytest.raises(Conflict):
        services.revoke_token(make_context(db_session, None, clock.now), public_id=row.public_id)
    with pytest.raises(NotFound):
        services.revoke_token(
            make_context(db_session, None, clock.now),
            public_id="00000000-0000-4000-8000-000000000000",
        )


def test_list_shows_active_tokens_first_with_their_creator(
    make_staff, make_token, db_session, clock
):
    old, _ = make_token("a-old-pbx")
    admin = db_session.get(StaffUser, make_staff("admin", username="root").id)
    services.create_token(make_context(db_session, admin, clock.now), name="mail-relay")
    services.revoke_token(make_context(db_session, admin, clock.now), public_id=old.public_id)

    overviews = services.list_tokens(make_context(db_session, admin, None))

    assert [(o.token.name, o.created_by, o.revoked_by, o.state) for o in overviews] == [
        ("mail-relay", "root", None, "active"),
        ("a-old-pbx", "cli", "root", "revoked"),
    ]


def test_authentication_accepts_the_token_and_records_its_use(make_token, db_session, clock):
    row, raw = make_token()
    token = services.authenticate_token(db_session, raw=raw, now=clock.now)
    assert token.id == row.id
    assert token.last_used_at == clock.now


def test_last_use_is_written_at_most_once_a_minute(make_token, db_session, database, clock):
    _, raw = make_token()
    first_use = clock.now
    services.authenticate_token(db_session, raw=raw, now=clock.now)
    db_session.commit()

    clock.advance(timedelta(seconds=59))
    services.authenticate_token(db_session, raw=raw, now=clock.now)
    db_session.commit()
    assert stored_token(database, "pbx-test").last_used_at == first_use

    clock.advance(timedelta(seconds=1))
    services.authenticate_token(db_session, raw=raw, now=clock.now)
    db_session.commit()
    assert stored_token(database, "pbx-test").last_used_at == clock.now


@pytest.mark.parametrize("raw", [None, ""])
def test_a_missing_token_is_unauthenticated(db_session, clock, raw):
    with pytest.raises(Unauthenticated) as failure:
        services.authenticate_token(db_session, raw=raw, now=clock.now)
    assert failure.value.status == 401
    assert failure.value.detail == services.NO_CREDENTIALS_DETAIL


def test_malformed_unknown_and_revoked_tokens_get_one_answer(make_token, db_session, clock):
    row, raw = make_token()
    unknown = "csr_" + "A" * 43
    candidates = [
        raw[:-1],  # too short
        raw + "x",  # too long
        raw[4:] + "abcd",  # right length, wrong scheme prefix
        raw.replace("csr_", "csr-"),
        "csr_" + "!" * 43,
        unknown,
    ]
    for candidate in candidates:
        with pytest.raises(Unauthenticated) as failure:
            services.authenticate_token(db_session, raw=candidate, now=clock.now)
        assert failure.value.detail == services.BAD_CREDENTIALS_DETAIL

    services.revoke_token(make_context(db_session, None, clock.now), public_id=row.public_id)
    with pytest.raises(Unauthenticated) as failure:
        services.authenticate_token(db_session, raw=raw, now=clock.now)
    assert failure.value.detail == services.BAD_CREDENTIALS_DETAIL
    # A refused token is not "used".
    assert db_session.get(IntegrationToken, row.id).last_used_at is None
