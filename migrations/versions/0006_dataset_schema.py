"""datasets: the column schema inferred at upload (kinds, missing counts, categories, target, task reason)

Datasets made before this revision, and those from JSON arrays or a generator, have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('table_schema', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('table_schema')
