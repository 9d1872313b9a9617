"""jobs: a CHECK constraint keeps status to the job state machine's statuses

``ck_jobs_status`` lists the statuses of :mod:`service.job_states` as they were at this revision
(a migration is history: a status added later widens it in a migration of its own). On SQLite
the batch operation rebuilds the jobs table (see migrations/env.py for its foreign keys).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

STATUSES = ('queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled')


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_jobs_status'), 'status IN (' + ', '.join(f"'{status}'" for status in STATUSES) + ')')


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_status'), type_='check')
