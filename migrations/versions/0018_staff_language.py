"""Each staff member may choose the console's language (Finnish, Swedish or English).

Written by hand from the models, checked against autogenerate.

Revision ID: 0018_staff_language
Revises: 0017_handover_outcomes
Created: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018_staff_language'
down_revision: str | Sequence[str] | None = '0017_handover_outcomes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('language')
