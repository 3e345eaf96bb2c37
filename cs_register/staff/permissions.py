"""What each role may do: the single table every check (service and view) consults.

Access follows work duties: agents serve customers, supervisors also oversee quality and the
audit trail, admins manage staff accounts (and see no customer data), and the data-protection
officer handles data-subject requests and reads the audit trail.
"""

from __future__ import annotations

import enum
from typing import Protocol

from cs_register.errors import PermissionDenied
from cs_register.staff.models import Role


class Permission(enum.Enum):
    VIEW_CUSTOMERS = "view_customers"
    EDIT_CUSTOMERS = "edit_customers"
    REVEAL_IDENTITY_CODE = "reveal_identity_code"
    LOG_CONTACTS = "log_contacts"
    VIEW_AUDIT = "view_audit"
    MANAGE_STAFF = "manage_staff"
    PLAY_RECORDINGS = "play_recordings"
    DOWNLOAD_RECORDINGS = "download_recordings"
    MANAGE_HOLDS = "manage_holds"
    MANAGE_INTEGRATIONS = "manage_integrations"
    VIEW_PURGE_HISTORY = "view_purge_history"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset(
        {
            Permission.VIEW_CUSTOMERS,
            Permission.EDIT_CUSTOMERS,
            Permission.REVEAL_IDENTITY_CODE,
            Permission.LOG_CONTACTS,
            Permission.PLAY_RECORDINGS,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.VIEW_CUSTOMERS,
            Permission.EDIT_CUSTOMERS,
            Permission.REVEAL_IDENTITY_CODE,
            Permission.LOG_CONTACTS,
            Permission.VIEW_AUDIT,
            Permission.PLAY_RECORDINGS,
            Permission.DOWNLOAD_RECORDINGS,
            Permission.MANAGE_HOLDS,
            Permission.VIEW_PURGE_HISTORY,
        }
    ),
    Role.ADMIN: frozenset({Permission.MANAGE_STAFF, Permission.MANAGE_INTEGRATIONS}),
    Role.DPO: frozenset(
        {
            Permission.VIEW_CUSTOMERS,
            Permission.EDIT_CUSTOMERS,
            Permission.REVEAL_IDENTITY_CODE,
            Permission.VIEW_AUDIT,
            Permission.VIEW_PURGE_HISTORY,
        }
    ),
}


class Actor(Protocol):
    """Anyone a service acts for: a staff user (integrations come with a later issue)."""

    id: int
    role: Role
    is_active: bool


def has_permission(actor: Actor | None, permission: Permission) -> bool:
    if actor is None or not actor.is_active:
        return False
    return permission in ROLE_PERMISSIONS[actor.role]


def require(actor: Actor | None, permission: Permission) -> None:
    """Service-layer guard; views check too, but this is the one that cannot be forgotten."""
    if not has_permission(actor, permission):
        raise PermissionDenied("Your role does not allow this action.")
