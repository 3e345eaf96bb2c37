"""Contacts (one interaction each) and the identity checks the agent made during them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_register.db import Base, PublicIdentified, str_enum
from cs_register.languages import N_


class Channel(enum.Enum):
    EMAIL = "email"
    PHONE = "phone"
    CHATBOT = "chatbot"

    @property
    def label(self) -> str:
        return _CHANNEL_LABELS[self]


class Direction(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"

    @property
    def label(self) -> str:
        return _DIRECTION_LABELS[self]


class VerificationOutcome(enum.Enum):
    VERIFIED = "verified"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]


# What pages call them: English (the source language), marked for the catalogs; templates
# show them with `|translated` (and `|lower` mid-sentence). The values stay the data.
_CHANNEL_LABELS = {
    Channel.EMAIL: N_("Email"),
    Channel.PHONE: N_("Phone"),
    Channel.CHATBOT: N_("Chatbot"),
}
_DIRECTION_LABELS = {Direction.INBOUND: N_("Inbound"), Direction.OUTBOUND: N_("Outbound")}
_OUTCOME_LABELS = {
    VerificationOutcome.VERIFIED: N_("Verified"),
    VerificationOutcome.FAILED: N_("Failed"),
    VerificationOutcome.NOT_ATTEMPTED: N_("Not attempted"),
}


# The column size of a contact's subject, whichever channel it came by.
MAX_SUBJECT = 200

# The identifiers an agent can check, in the order the verification panel shows them.
VERIFIABLE_IDENTIFIERS = ("name", "email", "phone", "identity_code", "address")


class Contact(PublicIdentified, Base):
    """One customer interaction. A contact may arrive unidentified and be linked later."""

    audit_subject_type: ClassVar[str] = "contact"
    __tablename__ = "contacts"

    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "contact_channel"))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "contact_direction"))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    subject: Mapped[str] = mapped_column(sa.String(MAX_SUBJECT))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    linked_at: Mapped[datetime | None]
    linked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # It matched exactly one customer, who is restricted: it waits unlinked, seen only by the
    # DPO, and is linked to them when the restriction is lifted (`customers.restriction`).
    held_for_customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )

    verifications: Mapped[list[IdentityVerification]] = relationship(
        back_populates="contact", order_by="IdentityVerification.verified_at"
    )

    def __repr__(self) -> str:
        return f"<Contact {self.id} {self.channel.value}>"


class IdentityVerification(Base):
    """Which identifiers the agent actually checked on a contact, and with what outcome."""

    __tablename__ = "identity_verifications"
    __table_args__ = (
        # "Not attempted" with boxes ticked, or an outcome with nothing checked, is a lie.
        sa.CheckConstraint(
            "(outcome = 'not_attempted') = NOT (checked_name OR checked_email OR checked_phone"
            " OR checked_identity_code OR checked_address)",
            name="outcome_matches_checks",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), index=True)
    checked_name: Mapped[bool] = mapped_column(default=False)
    checked_email: Mapped[bool] = mapped_column(default=False)
    checked_phone: Mapped[bool] = mapped_column(default=False)
    checked_identity_code: Mapped[bool] = mapped_column(default=False)
    checked_address: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[VerificationOutcome] = mapped_column(
        str_enum(VerificationOutcome, "verification_outcome")
    )
    verified_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    verified_at: Mapped[datetime]

    contact: Mapped[Contact] = relationship(back_populates="verifications")

    @property
    def checked(self) -> list[str]:
        return [name for name in VERIFIABLE_IDENTIFIERS if getattr(self, f"checked_{name}")]


class ContactRelink(PublicIdentified, Base):
    """A correction of whose contact this is: it was linked to the wrong customer (found in a
    rectification request) and was moved, with the reason, by whom and when."""

    __tablename__ = "contact_relinks"

    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), index=True)
    from_customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # None: the contact belongs to nobody in the register; it waits unlinked.
    to_customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(sa.String(2000))
    # The privacy request (rectification) the correction was made in.
    request_public_id: Mapped[str | None] = mapped_column(sa.String(36))
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    changed_at: Mapped[datetime]


# The parts of a contact an agent may correct after it was logged (by any channel).
EDITABLE_FIELDS = ("subject", "notes")


class ContactRevision(Base):
    """One correction of a contact's subject or notes: the value before and after, by whom
    and when. The old text is kept so a correction can be seen for what it was; it is
    personal data like the notes themselves and goes with the contact."""

    __tablename__ = "contact_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), index=True)
    field: Mapped[str] = mapped_column(sa.String(16))
    old_value: Mapped[str] = mapped_column(sa.Text)
    new_value: Mapped[str] = mapped_column(sa.Text)
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    changed_at: Mapped[datetime]
