"""Chatbot handovers can be claimed (or assigned) by one agent, and close with an outcome and
a note.

Written by hand from the models, checked against autogenerate.

Revision ID: 0017_handover_outcomes
Revises: 0016_live_call_events
Created: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017_handover_outcomes'
down_revision: str | Sequence[str] | None = '0016_live_call_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = ('resolved', 'forwarded', 'no_answer_needed')


def upgrade() -> None:
    with op.batch_alter_table('chatbot_conversations', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('handover_claimed_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('handover_claimed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                'handover_outcome',
                sa.Enum(
                    *_OUTCOMES,
                    name='handover_outcome',
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column('handover_outcome_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_chatbot_conversations_handover_claimed_by_id_staff_users'),
            'staff_users',
            ['handover_claimed_by_id'],
            ['id'],
        )


def downgrade() -> None:
    with op.batch_alter_table('chatbot_conversations', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_chatbot_conversations_handover_claimed_by_id_staff_users'),
            type_='foreignkey',
        )
        # The outcome's CHECK names the column; SQLite's table rebuild would keep it.
        batch_op.drop_constraint(
            batch_op.f('ck_chatbot_conversations_handover_outcome'), type_='check'
        )
        batch_op.drop_column('handover_outcome_note')
        batch_op.drop_column('handover_outcome')
        batch_op.drop_column('handover_claimed_by_id')
        batch_op.drop_column('handover_claimed_at')
