"""What each role may do: the single table every check (service and view) consults.

Access follows work duties: agents serve customers, supervisors also oversee quality and the
audit trail, admins manage staff accounts (and see no customer data), and the data-protection
officer handles data-subject requests and reads the audit trail.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from cs_register.errors import PermissionDenied
from cs_register.languages import N_


class Role(enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    DPO = "dpo"

    @property
    def label(self) -> str:
        """The role in words, in English: a template shows it `|translated`."""
        return _ROLE_LABELS[self.value]


_ROLE_LABELS: dict[str, str] = {
    "agent": N_("Agent"),
    "supervisor": N_("Supervisor"),
    "admin": N_("Admin"),
    "dpo": N_("Data-protection officer"),
}


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
    # Everything the register holds about one person, from every source: the DPO's work.
    REVIEW_PERSONAL_DATA = "review_personal_data"
    # Data-subject requests: anyone serving customers registers one as it arrives; the DPO
    # carries them out; supervisors follow the queue without acting on it.
    REGISTER_PRIVACY_REQUESTS = "register_privacy_requests"
    VIEW_PRIVACY_REQUESTS = "view_privacy_requests"
    HANDLE_PRIVACY_REQUESTS = "handle_privacy_requests"
    # Anonymised daily counts (cs_register.statistics): supervisors and the DPO.
    VIEW_STATISTICS = "view_statistics"
    # Giving a chatbot handover to a named agent, or taking it from one: supervisors spread
    # the queue; agents only claim, release and close their own.
    ASSIGN_HANDOVERS = "assign_handovers"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset(
        {
            Permission.VIEW_CUSTOMERS,
            Permission.EDIT_CUSTOMERS,
            Permission.REVEAL_IDENTITY_CODE,
            Permission.LOG_CONTACTS,
            Permission.PLAY_RECORDINGS,
            Permission.REGISTER_PRIVACY_REQUESTS,
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
            Permission.VIEW_STATISTICS,
            Permission.REGISTER_PRIVACY_REQUESTS,
            Permission.VIEW_PRIVACY_REQUESTS,
            Permission.ASSIGN_HANDOVERS,
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
            Permission.VIEW_STATISTICS,
            Permission.REVIEW_PERSONAL_DATA,
            # Only the recordings a privacy request concerns (recordings.access).
            Permission.PLAY_RECORDINGS,
            Permission.REGISTER_PRIVACY_REQUESTS,
            Permission.VIEW_PRIVACY_REQUESTS,
            Permission.HANDLE_PRIVACY_REQUESTS,
        }
    ),
}


class Principal(Protocol):
    """Anything whose role can be checked: a staff account, or an `Actor` acting for one."""

    @property
    def role(self) -> Role | None: ...

    @property
    def is_active(self) -> bool: ...


class StaffPrincipal(Protocol):
    """What the core needs of a staff account, without importing the staff package."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def must_change_password(self) -> bool: ...


class ActorKind(enum.Enum):
    STAFF = "staff"
    INTEGRATION = "integration"
    JOB = "job"
    COMMAND = "command"
    SYSTEM = "system"
    # Someone not (yet) logged in: the login form's requests.
    ANONYMOUS = "anonymous"


# The audit trail's actor_label column holds 100 characters.
_LABEL_LENGTH = 100


@dataclass(frozen=True)
class Actor:
    """Who a unit of work acts for, and how the audit trail names them.

    Staff members carry their role, so the same `require()` checks them; integrations, jobs and
    the command line have no role and are authorised by how they got in (a token, the queue,
    shell access to the server).
    """

    kind: ActorKind
    audit_label: str
    staff_id: int | None = None
    role: Role | None = None
    is_active: bool = True

    @classmethod
    def for_staff(cls, user: StaffPrincipal) -> Actor:
        return cls(
            kind=ActorKind.STAFF,
            audit_label=user.username,
            staff_id=user.id,
            role=user.role,
            is_active=user.is_active,
        )

    @classmethod
    def for_integration(cls, name: str) -> Actor:
        return cls(kind=ActorKind.INTEGRATION, audit_label=f"integration:{name}"[:_LABEL_LENGTH])

    @classmethod
    def for_job(cls, job_id: str | None) -> Actor:
        label = f"job:{job_id}"[:_LABEL_LENGTH] if job_id else "system"
        return cls(kind=ActorKind.JOB if job_id else ActorKind.SYSTEM, audit_label=label)

    @classmethod
    def anonymous(cls) -> Actor:
        """A request from someone not logged in; the audit trail names them "unknown"."""
        return cls(kind=ActorKind.ANONYMOUS, audit_label="unknown")

    @classmethod
    def deployment(cls) -> Actor:
        """The server's command line acting as the deployment itself (creating the first admin
        account, integration tokens): the audit trail names it "cli"."""
        return cls(kind=ActorKind.COMMAND, audit_label="cli")

    @classmethod
    def for_command(cls, command: str) -> Actor:
        return cls(kind=ActorKind.COMMAND, audit_label=f"cli:{command}"[:_LABEL_LENGTH])


def has_permission(actor: Principal | None, permission: Permission) -> bool:
    if actor is None or not actor.is_active or actor.role is None:
        return False
    return permission in ROLE_PERMISSIONS[actor.role]


def require(actor: Principal | None, permission: Permission) -> None:
    """Service-layer guard; views check too, but this is the one that cannot be forgotten."""
    if not has_permission(actor, permission):
        raise PermissionDenied("Your role does not allow this action.")


def require_deployment(actor: Principal | None) -> None:
    """For what only the deployment does, never a staff member from the console (key
    rotation): its command line and its jobs."""
    kind = getattr(actor, "kind", None)
    if kind not in (ActorKind.COMMAND, ActorKind.JOB, ActorKind.SYSTEM):
        raise PermissionDenied("Only the server's command line or its jobs may do this.")


def require_unless_command(actor: Actor, permission: Permission) -> None:
    """For what the deployment's own command line may do without a role (someone with shell
    access on the server is the deployment); staff members need `permission`."""
    if actor.kind is not ActorKind.COMMAND:
        require(actor, permission)
