"""The console's name search becomes a range on the name keys' indexes:

- the folded name keys compare byte by byte on PostgreSQL too (collation "C"); SQLite
  compares bytes already;
- the index on `customers.restricted_at` holds only the restricted few, so that no planner
  reads "every visible customer" through it instead of a name key's range.

Written by hand: autogenerate compares neither collations nor partial-index conditions.

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


def _restricted_index(partial: bool) -> None:
    op.drop_index('ix_customers_restricted_at', table_name='customers')
    where = sa.text('restricted_at IS NOT NULL') if partial else None
    op.create_index(
        'ix_customers_restricted_at',
        'customers',
        ['restricted_at'],
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    _set_collation('C')
    _restricted_index(partial=True)


def downgrade() -> None:
    _restricted_index(partial=False)
    _set_collation('default')
