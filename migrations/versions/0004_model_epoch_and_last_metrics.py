"""models: the epoch whose weights a model holds, and the last epoch's record beside it

With early stopping's restore_best the weights come from the best epoch, not the last one;
``metrics`` now holds that epoch's record and ``last_metrics`` the last epoch's. Models made
before this revision keep their last epoch's record in ``metrics`` and have no epoch.

Revision ID: 0004
Revises: 0003_checkpoints
Create Date: 2026-12-01 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003_checkpoints'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('epoch', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_metrics', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_column('last_metrics')
        batch_op.drop_column('epoch')
