"""Who acts in a unit of work, and how the audit trail names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from cs_register.context import Context, job_context
from cs_register.permissions import (
    Actor,
    ActorKind,
    Permission,
    Role,
    has_permission,
    require_unless_command,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_each_kind_of_actor_knows_its_audit_label():
    staff = SimpleNamespace(id=7, username="maija", role=Role.AGENT, is_active=True)
    assert Actor.for_staff(staff) == Actor(ActorKind.STAFF, "maija", 7, Role.AGENT, True)
    assert Actor.for_integration("pbx").audit_label == "integration:pbx"
    assert Actor.for_job("retention-sweep-1").audit_label == "job:retention-sweep-1"
    assert Actor.for_job(None).audit_label == "system"
    assert Actor.deployment().audit_label == "cli"
    assert Actor.for_command("intake-email").audit_label == "cli:intake-email"
    assert Actor.anonymous().audit_label == "unknown"
    # The audit trail's column holds 100 characters.
    assert len(Actor.for_integration("x" * 200).audit_label) == 100


def test_only_staff_roles_grant_permissions_and_the_command_line_is_the_deployment():
    agent = SimpleNamespace(id=1, username="a", role=Role.AGENT, is_active=True)
    assert has_permission(Actor.for_staff(agent), Permission.LOG_CONTACTS)
    assert not has_permission(Actor.for_integration("pbx"), Permission.LOG_CONTACTS)
    require_unless_command(Actor.deployment(), Permission.MANAGE_STAFF)  # does not raise


def test_a_context_is_frozen_and_moves_only_by_copy(db_session):
    ctx = Context(session=db_session, actor=Actor.anonymous(), now=NOW)
    later = ctx.at(NOW + timedelta(seconds=1))
    assert (ctx.now, later.now) == (NOW, NOW + timedelta(seconds=1))
    assert ctx.acting_as(Actor.deployment()).actor.audit_label == "cli"
    assert ctx.actor.audit_label == "unknown"


def test_a_job_context_names_the_job_and_uses_its_id_as_request_id(db_session):
    ctx = job_context(db_session, job_id="r" * 80, now=NOW)
    assert ctx.actor.kind is ActorKind.JOB
    assert ctx.request_id == "r" * 64
