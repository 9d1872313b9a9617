"""dataset task_reason: why every dataset's task is what it is

Uploads kept the reason in ``table_schema["target"]``; JSON bodies and generators kept none. The
column holds it for every dataset; uploads stored before are filled from their schema, and the
others stay null (their rule was not recorded).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_reason', sa.Text(), nullable=True))
    datasets = sa.table('datasets', sa.column('id', sa.String), sa.column('table_schema', sa.JSON),
                        sa.column('task_reason', sa.Text))
    connection = op.get_bind()
    uploads = connection.execute(sa.select(datasets.c.id, datasets.c.table_schema)
                                 .where(datasets.c.table_schema.is_not(None))).all()
    for dataset_id, schema in uploads:
        reason = ((schema or {}).get('target') or {}).get('task_reason')
        connection.execute(datasets.update().where(datasets.c.id == dataset_id).values(task_reason=reason))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('task_reason')
