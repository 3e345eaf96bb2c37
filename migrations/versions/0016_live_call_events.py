"""The screen pop: calls remember when they rang and were answered for an agent, and to whom
the pop first showed their customers; an index reads an agent's calls by time.

Written by hand from the models, checked against autogenerate.

Revision ID: 0016_live_call_events
Revises: 0015_key_versions_and_rotations
Created: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016_live_call_events'
down_revision: str | Sequence[str] | None = '0015_key_versions_and_rotations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ringing_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pop_shown_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pop_shown_to_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_calls_pop_shown_to_id_staff_users'),
            'staff_users',
            ['pop_shown_to_id'],
            ['id'],
        )
        batch_op.create_index('ix_calls_agent_id_started_at', ['agent_id', 'started_at'])


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_agent_id_started_at')
        batch_op.drop_constraint(
            batch_op.f('fk_calls_pop_shown_to_id_staff_users'), type_='foreignkey'
        )
        batch_op.drop_column('pop_shown_to_id')
        batch_op.drop_column('pop_shown_at')
        batch_op.drop_column('answered_at')
        batch_op.drop_column('ringing_at')
