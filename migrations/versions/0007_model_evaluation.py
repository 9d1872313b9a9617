"""models: the evaluation report of the model's weights

The report (mlp.evaluation) that training makes at its end, on the validation split or, without
one, on the training split: confusion matrix and per-class scores, or MAE, RMSE and R². Models
made before this revision have none (null).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evaluation', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_column('evaluation')
