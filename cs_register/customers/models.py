"""The data subject and the history of corrections made to their data."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.db import Base, PublicIdentified

# The folded name keys are compared byte by byte, so that a name search is a range on their
# index (`prefix <= key < prefix + U+FFFF`) on every database: SQLite's default collation
# already is, PostgreSQL's linguistic ones are not (they would skip spaces at the first level).
NAME_KEY = sa.String(201).with_variant(sa.String(201, collation="C"), "postgresql")


class Customer(PublicIdentified, Base):
    """A person who has contacted customer service.

    The identity code is never stored in clear: `identity_code_ciphertext` is AES-GCM bound to
    this row's `public_id`, and `identity_code_index` is a truncated keyed hash used to find
    candidates for an exact-match search (see cs_register.crypto).
    """

    audit_subject_type: ClassVar[str] = "customer"
    __table_args__ = (
        # Only the restricted few: a planner must never read "everyone visible" through it
        # (SQLite without statistics would, rather than the name keys' ranges).
        sa.Index(
            "ix_customers_restricted_at",
            "restricted_at",
            sqlite_where=sa.text("restricted_at IS NOT NULL"),
            postgresql_where=sa.text("restricted_at IS NOT NULL"),
        ),
    )
    __tablename__ = "customers"

    given_names: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100))
    # Folded (lower-case, accents stripped) for prefix search in either name order.
    name_key_family_first: Mapped[str] = mapped_column(NAME_KEY, index=True)
    name_key_given_first: Mapped[str] = mapped_column(NAME_KEY, index=True)
    street_address: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(12))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    phone_e164: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    identity_code_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    identity_code_index: Mapped[int | None] = mapped_column(index=True)
    # The key version the ciphertext and its index are under (`crypto`); a key rotation
    # moves rows to the new one (`recordings.key_rotation`).
    identity_code_key_version: Mapped[int | None] = mapped_column(sa.SmallInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_contact_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # Restriction of processing (GDPR article 18): while set, only the DPO sees the record
    # (`cs_register.customers.restriction`).
    restricted_at: Mapped[datetime | None]
    restriction_reason: Mapped[str | None] = mapped_column(sa.Text)
    restricted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # Objection (GDPR article 21): what the person objects to, while it stands
    # (`cs_register.customers.objection`).
    objected_at: Mapped[datetime | None]
    objection: Mapped[str | None] = mapped_column(sa.Text)
    objection_recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    @property
    def is_restricted(self) -> bool:
        return self.restricted_at is not None

    @property
    def full_name(self) -> str:
        return f"{self.given_names} {self.family_name}"

    def __repr__(self) -> str:
        # Deliberately no names: reprs end up in logs and tracebacks.
        return f"<Customer {self.id}>"


class CustomerRevision(Base):
    """One field changed by a rectification: who, when, why, and the old and new values.

    Values are encrypted (they are personal data, and for the identity code the most
    sensitive kind), bound to the customer and field so they cannot be swapped around.
    """

    __tablename__ = "customer_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    field: Mapped[str] = mapped_column(sa.String(32))
    old_value_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    new_value_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    reason: Mapped[str] = mapped_column(sa.String(500))
    changed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    changed_at: Mapped[datetime]
