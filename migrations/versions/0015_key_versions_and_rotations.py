"""Key versions: which master key version each identity code and recording is under, and the
key rotations' progress (`recordings.key_rotation`).

Identity codes stored so far are under version 1 (their ciphertexts begin with the byte 1);
recordings stored so far are plaintext (NULL) until a rotation seals them.

Revision ID: 0015_key_versions_and_rotations
Revises: 0014_contact_revisions
Created: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015_key_versions_and_rotations"
down_revision: str | Sequence[str] | None = "0014_contact_revisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identity_code_key_version", sa.SmallInteger(), nullable=True)
        )
    op.execute(
        "UPDATE customers SET identity_code_key_version = 1"
        " WHERE identity_code_ciphertext IS NOT NULL"
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_version", sa.SmallInteger(), nullable=True))
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("target_version", sa.SmallInteger(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("objects_done", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_key_rotations_public_id")),
    )


def downgrade() -> None:
    op.drop_table("key_rotations")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("key_version")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("identity_code_key_version")
