"""Four eyes on privilege: which changes to staff accounts need a second admin's approval.

An admin must see no customer data. Without this rule one admin could create a supervisor
account, log in with it and read customers and download recordings alone. So these changes,
asked for by an admin in the console, take effect only when another admin approves them
(`staff.approvals`):

- creating an account with a privileged role, or changing an account's role to one;
- resetting the password of an account that has a privileged role;
- resetting anyone's second factor (whoever holds the reset account's new enrolment could
  otherwise log in as them).

The deployment's command line (`flask users ...`) is the operator on the server and needs no
approval: it creates the first admins and recovers when no second admin is there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cs_register.errors import Conflict, PermissionDenied
from cs_register.languages import N_
from cs_register.permissions import Actor, ActorKind, Role
from cs_register.staff.models import StaffChangeKind, StaffChangeRequest

PRIVILEGED_ROLES = frozenset({Role.SUPERVISOR, Role.DPO, Role.ADMIN})

# A request not decided within a day lapses: the second admin approves a change they can
# still ask the first about, not a forgotten one.
APPROVAL_VALID = timedelta(hours=24)

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"


class ApprovalRequired(Conflict):
    """The change needs a second admin: ask for it with `staff.approvals` instead."""

    def __init__(self) -> None:
        super().__init__(N_("This change takes effect only when a second admin approves it."))


def needs_second_admin(kind: StaffChangeKind, *, role: Role) -> bool:
    """Whether a change of `kind` to an account that has (or is to have) `role` needs one."""
    if kind is StaffChangeKind.RESET_TWO_STEP:
        return True
    return role in PRIVILEGED_ROLES


def lapsed(request: StaffChangeRequest, now: datetime) -> bool:
    """A pending request older than `APPROVAL_VALID` (the boundary instant included)."""
    return request.outcome == PENDING and now >= request.requested_at + APPROVAL_VALID


def status(request: StaffChangeRequest, now: datetime) -> str:
    return "lapsed" if lapsed(request, now) else request.outcome


# Each status in words, in English (a template shows them `|translated`).
_STATUS_LABELS = {
    PENDING: N_("pending"),
    APPROVED: N_("approved"),
    REJECTED: N_("rejected"),
    WITHDRAWN: N_("withdrawn"),
    "lapsed": N_("lapsed"),
}


def status_label(value: str) -> str:
    """A `status` in words, in English, marked for the catalogs."""
    return _STATUS_LABELS.get(value, value)


def check_allowed(
    actor: Actor,
    kind: StaffChangeKind,
    *,
    role: Role,
    approval: StaffChangeRequest | None,
) -> None:
    """Refuse a change that needs a second admin unless `approval` is an approved request for
    it, asked by one admin and decided by another. The command line needs none."""
    if actor.kind is ActorKind.COMMAND or not needs_second_admin(kind, role=role):
        return
    if approval is None:
        raise ApprovalRequired()
    if (
        approval.kind is not kind
        or approval.outcome != APPROVED
        or approval.decided_by_id is None
        or approval.decided_by_id == approval.requested_by_id
    ):
        raise PermissionDenied("This change needs another admin's approval.")
