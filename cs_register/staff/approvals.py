"""Changes that wait for a second admin: asking, approving, rejecting, withdrawing.

Which changes need one is the rule in `staff.four_eyes`. A request is checked when it is
asked for (so an admin learns at once that a username is taken) and again when it is
approved, in the approver's transaction, where the change itself is made by the ordinary
service under the approved request; the account's own audit row (`staff_created`,
`staff_role_changed`, ...) then names the approver as the actor, and the request's rows name
both. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cs_register.languages import N_
from cs_register.permissions import ActorKind, Permission, Role, require
from cs_register.staff import four_eyes, services, two_step
from cs_register.staff.models import StaffChangeKind, StaffChangeRequest, StaffUser
from cs_register.staff.passwords import PasswordHashing

_T = TypeVar("_T")


@dataclass(frozen=True)
class Decision:
    """What approving made: the account, and its one-time password when one was issued
    (shown once to the approver, who hands it over)."""

    request: StaffChangeRequest
    user: StaffUser
    one_time_password: str | None = None


def _require_admin(ctx: Context) -> StaffUser:
    require(ctx.actor, Permission.MANAGE_STAFF)
    if ctx.actor.kind is not ActorKind.STAFF or ctx.actor.staff_id is None:
        raise PermissionDenied("Only an admin's own account asks for or approves a change.")
    return _as_asked(ctx.session.get(StaffUser, ctx.actor.staff_id))


def _as_asked(value: _T | None) -> _T:
    """A part of the request its kind needs (set when it was asked for)."""
    if value is None:
        raise Conflict("This request is incomplete; ask again.")
    return value


def _record(ctx: Context, action: AuditAction, request: StaffChangeRequest) -> None:
    details: dict[str, str] = {"kind": request.kind.value}
    if request.role is not None:
        details["role"] = request.role.value
    audit.record(ctx, action, ("staff_change_request", request.public_id), details=details)


def _pending_query(now_condition: sa.ColumnElement[bool]) -> sa.Select[StaffChangeRequest]:
    return sa.select(StaffChangeRequest).where(
        StaffChangeRequest.outcome == four_eyes.PENDING, now_condition
    )


def _still_open(ctx: Context) -> sa.ColumnElement[bool]:
    return StaffChangeRequest.requested_at > ctx.now - four_eyes.APPROVAL_VALID


def _refuse_a_second_request(ctx: Context, condition: sa.ColumnElement[bool]) -> None:
    if ctx.session.scalar(_pending_query(_still_open(ctx)).where(condition)) is not None:
        raise Conflict("The same change already waits for approval.")


def ask_to_create(
    ctx: Context, *, username: str, display_name: str, role: Role
) -> StaffChangeRequest:
    """Ask for a new account with a privileged role. The username and display name are
    checked now, and the account is created when a second admin approves."""
    admin = _require_admin(ctx)
    errors: dict[str, list[str]] = {}
    try:
        username = services.normalise_username(username)
    except ValidationFailed as failure:
        errors.update(failure.errors)
    display_name = " ".join(display_name.split())
    if not 1 <= len(display_name) <= 100:
        errors["display_name"] = ["Display name is required (at most 100 characters)."]
    if errors:
        raise ValidationFailed(errors)
    if services.find_user_by_username(ctx.session, username) is not None:
        raise Conflict("That username is already taken.")
    _refuse_a_second_request(ctx, StaffChangeRequest.username == username)
    return _ask(
        ctx,
        StaffChangeRequest(
            kind=StaffChangeKind.CREATE_ACCOUNT,
            username=username,
            display_name=display_name,
            role=role,
            requested_by_id=admin.id,
        ),
    )


def ask_to_change(
    ctx: Context, kind: StaffChangeKind, *, user: StaffUser, role: Role | None = None
) -> StaffChangeRequest:
    """Ask for a role change (to `role`), a password reset or a two-step reset of `user`."""
    admin = _require_admin(ctx)
    if admin.id == user.id:
        raise Conflict("Another admin changes your own account.")
    if kind is StaffChangeKind.CHANGE_ROLE and (role is None or role == user.role):
        # The message is marked outside the call: the extractor does not look inside it.
        same_role = N_("Choose a role the account does not have yet.")
        raise ValidationFailed({"role": [same_role]})
    if kind is StaffChangeKind.CREATE_ACCOUNT:
        raise ValueError("a new account is asked for with ask_to_create")
    _refuse_a_second_request(
        ctx,
        sa.and_(StaffChangeRequest.target_user_id == user.id, StaffChangeRequest.kind == kind),
    )
    return _ask(
        ctx,
        StaffChangeRequest(
            kind=kind,
            target_user_id=user.id,
            role=role if kind is StaffChangeKind.CHANGE_ROLE else None,
            role_when_asked=user.role,
            requested_by_id=admin.id,
        ),
    )


def _ask(ctx: Context, request: StaffChangeRequest) -> StaffChangeRequest:
    request.requested_at = ctx.now
    ctx.session.add(request)
    ctx.session.flush()
    _record(ctx, AuditAction.STAFF_CHANGE_REQUESTED, request)
    return request


def waiting(ctx: Context) -> Sequence[StaffChangeRequest]:
    """The requests still open, oldest first (what the other admins are to decide)."""
    require(ctx.actor, Permission.MANAGE_STAFF)
    return ctx.session.scalars(
        _pending_query(_still_open(ctx)).order_by(StaffChangeRequest.requested_at)
    ).all()


def recent(ctx: Context, *, limit: int = 20) -> Sequence[StaffChangeRequest]:
    """The latest requests whatever their outcome (decided, withdrawn or lapsed)."""
    require(ctx.actor, Permission.MANAGE_STAFF)
    return ctx.session.scalars(
        sa.select(StaffChangeRequest)
        .order_by(StaffChangeRequest.requested_at.desc(), StaffChangeRequest.id.desc())
        .limit(limit)
    ).all()


# What a decided request says to a second decision, by its outcome: whole sentences.
_ALREADY_DECIDED = {
    four_eyes.APPROVED: N_("This request was already approved."),
    four_eyes.REJECTED: N_("This request was already rejected."),
    four_eyes.WITHDRAWN: N_("This request was already withdrawn."),
}


def _open_request(ctx: Context, public_id: str) -> StaffChangeRequest:
    request = ctx.session.scalar(
        sa.select(StaffChangeRequest)
        .where(StaffChangeRequest.public_id == public_id)
        .with_for_update()
    )
    if request is None:
        raise NotFound("No such request.")
    if four_eyes.lapsed(request, ctx.now):
        raise Conflict("This request lapsed without a decision; ask again if it is still needed.")
    if request.outcome != four_eyes.PENDING:
        raise Conflict(_ALREADY_DECIDED[request.outcome])
    return request


def _decide(ctx: Context, request: StaffChangeRequest, outcome: str, admin: StaffUser) -> None:
    request.outcome = outcome
    request.decided_by_id = admin.id
    request.decided_at = ctx.now


def approve(ctx: Context, public_id: str, *, hashing: PasswordHashing) -> Decision:
    """Approve another admin's request and make the change, in this transaction."""
    admin = _require_admin(ctx)
    request = _open_request(ctx, public_id)
    if request.requested_by_id == admin.id:
        raise Conflict("A second admin approves your request, not you.")
    if request.target_user_id == admin.id:
        raise Conflict("A change to your own account is approved by another admin.")
    if not request.requested_by.is_active:
        raise Conflict("The admin who asked for this has been deactivated since.")
    target = request.target
    if target is not None and target.role != request.role_when_asked:
        raise Conflict("The account's role changed since this was asked; ask again.")
    _decide(ctx, request, four_eyes.APPROVED, admin)
    _record(ctx, AuditAction.STAFF_CHANGE_APPROVED, request)
    if request.kind is StaffChangeKind.CREATE_ACCOUNT:
        user, password = services.create_user_with_one_time_password(
            ctx,
            hashing=hashing,
            username=_as_asked(request.username),
            display_name=_as_asked(request.display_name),
            role=_as_asked(request.role),
            approval=request,
        )
        request.target_user_id = user.id
        return Decision(request, user, password)
    target = _as_asked(target)
    if request.kind is StaffChangeKind.CHANGE_ROLE:
        services.set_role(ctx, user=target, role=_as_asked(request.role), approval=request)
        return Decision(request, target)
    if request.kind is StaffChangeKind.RESET_PASSWORD:
        password = services.reset_password(ctx, hashing=hashing, user=target, approval=request)
        return Decision(request, target, password)
    two_step.reset_two_step(ctx, target, approval=request)
    return Decision(request, target)


def reject(ctx: Context, public_id: str) -> StaffChangeRequest:
    """Another admin says no: nothing changes."""
    admin = _require_admin(ctx)
    request = _open_request(ctx, public_id)
    if request.requested_by_id == admin.id:
        raise Conflict("Withdraw your own request instead.")
    _decide(ctx, request, four_eyes.REJECTED, admin)
    _record(ctx, AuditAction.STAFF_CHANGE_REJECTED, request)
    return request


def withdraw(ctx: Context, public_id: str) -> StaffChangeRequest:
    """The admin who asked takes the request back."""
    admin = _require_admin(ctx)
    request = _open_request(ctx, public_id)
    if request.requested_by_id != admin.id:
        raise Conflict("Only the admin who asked withdraws a request; you can reject it.")
    _decide(ctx, request, four_eyes.WITHDRAWN, admin)
    _record(ctx, AuditAction.STAFF_CHANGE_WITHDRAWN, request)
    return request
