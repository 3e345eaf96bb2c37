"""The folded name keys compare byte by byte on PostgreSQL too (collation "C"), so that the
console's name search is a range on their indexes. SQLite compares bytes already.

Written by hand: autogenerate does not compare collations.

Revision ID: 0013_name_keys_compared_bytewise
Revises: 0012_withheld_caller_numbers
Created: 2026-12-06 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_name_keys_compared_bytewise'
down_revision: str | Sequence[str] | None = '0012_withheld_caller_numbers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ('name_key_family_first', 'name_key_given_first')


def _set_collation(collation: str | None) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for column in _COLUMNS:
        # PostgreSQL rebuilds the column's index with the new collation.
        op.alter_column(
            'customers',
            column,
            type_=sa.String(201, collation=collation),
            existing_type=sa.String(201),
            existing_nullable=False,
        )


def upgrade() -> None:
    _set_collation('C')


def downgrade() -> None:
    _set_collation('default')
