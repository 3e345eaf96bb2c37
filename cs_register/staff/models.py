"""Staff accounts and their server-side login sessions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_register.db import Base, PublicIdentified, str_enum
from cs_register.languages import N_
from cs_register.permissions import Role


class StaffUser(PublicIdentified, Base):
    """A personal staff account. Shared accounts are not a thing here."""

    audit_subject_type: ClassVar[str] = "staff"
    __tablename__ = "staff_users"

    # Stored lower-case; login is case-insensitive on the username.
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[Role] = mapped_column(str_enum(Role, "staff_role"))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # One-time passwords (demo accounts, admin resets) must be replaced at first login.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    password_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]
    # Two-step login (`cs_register.staff.two_step`): the authenticator secret, encrypted; the
    # one being enrolled until its first code is confirmed; the last 30-second step accepted,
    # so a code is never accepted twice.
    totp_secret_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_pending_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The console language this person chose (cs_register.languages); None: the deployment's.
    language: Mapped[str | None] = mapped_column(sa.String(8))

    sessions: Mapped[list[StaffSession]] = relationship(back_populates="user")

    # The interface Flask-Login expects of a user object.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.username} {self.role.value}>"


class StaffSession(Base):
    """One login. The browser holds a random token; only its SHA-256 is stored here.

    Flask's own cookie session cannot be revoked, so every request checks this row: logging out,
    changing a password or deactivating the account revokes rows, and a replayed cookie finds
    its row revoked.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(32))

    user: Mapped[StaffUser] = relationship(back_populates="sessions")


class StaffSignIn(Base):
    """One attempt to sign in: when, which account (if the username named one), from which
    address, and how it went. Kept `staff.sign_ins.SIGN_IN_RETENTION` (45 days), then deleted:
    useful to investigate an attack, and the privacy statement allows no longer."""

    __tablename__ = "staff_sign_ins"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    # None when the username named no account (what was typed is not kept: it may be a
    # password typed into the wrong field).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    source_address: Mapped[str | None] = mapped_column(sa.String(45))
    outcome: Mapped[str] = mapped_column(sa.String(16))


class StaffRecoveryCode(Base):
    """One of a staff member's ten one-time recovery codes (for a lost authenticator). Only a
    SHA-256 is stored: the codes are random and long, so a slow hash adds nothing."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffChangeKind(enum.Enum):
    """The changes to staff accounts that may need a second admin (`staff.four_eyes`)."""

    CREATE_ACCOUNT = "create_account"
    CHANGE_ROLE = "change_role"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a kind of change, not a password
    RESET_TWO_STEP = "reset_two_step"

    @property
    def label(self) -> str:
        """The kind in words, in English: a template shows it `|translated`."""
        return {
            StaffChangeKind.CREATE_ACCOUNT: N_("New account"),
            StaffChangeKind.CHANGE_ROLE: N_("Role change"),
            StaffChangeKind.RESET_PASSWORD: N_("Password reset"),
            StaffChangeKind.RESET_TWO_STEP: N_("Two-step login reset"),
        }[self]


class StaffChangeRequest(PublicIdentified, Base):
    """A change to a staff account that one admin asked for and that takes effect only when a
    second admin approves it (`staff.approvals`). Decided requests stay as the record of who
    asked and who approved; a pending one lapses after `staff.four_eyes.APPROVAL_VALID`."""

    __tablename__ = "staff_change_requests"

    kind: Mapped[StaffChangeKind] = mapped_column(str_enum(StaffChangeKind, "staff_change_kind"))
    # The account changed; None for a new account, which exists only once approved.
    target_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    # A new account's username and display name (None for the other kinds).
    username: Mapped[str | None] = mapped_column(sa.String(64))
    display_name: Mapped[str | None] = mapped_column(sa.String(100))
    # The role the account is to have, and the role it had when asked (a role change is
    # refused at approval if the account's role changed meanwhile).
    role: Mapped[Role | None] = mapped_column(str_enum(Role, "staff_change_role"))
    role_when_asked: Mapped[Role | None] = mapped_column(
        str_enum(Role, "staff_change_role_when_asked")
    )
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    requested_at: Mapped[datetime] = mapped_column(index=True)
    # "pending" until an admin approves or rejects it or its requester withdraws it.
    outcome: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None]

    target: Mapped[StaffUser | None] = relationship(foreign_keys=[target_user_id])
    requested_by: Mapped[StaffUser] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[StaffUser | None] = relationship(foreign_keys=[decided_by_id])


class StaffPasskey(PublicIdentified, Base):
    """A passkey (WebAuthn credential) a staff member registered as a second factor, in place
    of the authenticator app's code. Only the public key is here; the private key never
    leaves the person's authenticator."""

    __tablename__ = "staff_passkeys"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # The authenticator's signature counter: one that goes backwards is a cloned key.
    sign_count: Mapped[int] = mapped_column(sa.BigInteger)
    name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
