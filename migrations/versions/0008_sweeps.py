"""sweeps: hyperparameter searches whose trials are ordinary jobs

A ``sweeps`` row holds the base spec, the space over it, the strategy and the objective; each
trial is a job with ``sweep_id``, its index ``trial`` and the values ``sampled`` into its spec.
Jobs may also end ``pruned`` (a trial ASHA stopped at a rung): ``ck_jobs_status`` (0005) is
widened to take it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:40:00
"""
from alembic import op
import sqlalchemy as sa

import service.database


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

STATUSES = ('queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled')


def _status_check(statuses: tuple[str, ...]) -> str:
    return 'status IN (' + ', '.join(f"'{status}'" for status in statuses) + ')'


def upgrade() -> None:
    op.create_table('sweeps',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('dataset_id', sa.String(length=32), nullable=True),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('space', sa.JSON(), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('asha', sa.JSON(), nullable=True),
    sa.Column('n_trials', sa.Integer(), nullable=False),
    sa.Column('objective_metric', sa.String(length=32), nullable=False),
    sa.Column('objective_mode', sa.String(length=3), nullable=False),
    sa.Column('max_parallel', sa.Integer(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', service.database.UTCDateTime(), nullable=False),
    sa.Column('finished_at', service.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_sweeps_dataset_id_datasets'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant'], ['tenants.name'], name=op.f('fk_sweeps_tenant_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sweeps'))
    )
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweeps_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_tenant'), ['tenant'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_status'), _status_check(STATUSES + ('pruned',)))
        batch_op.add_column(sa.Column('sweep_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('trial', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sampled', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_sweep_id'), ['sweep_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_jobs_sweep_id_sweeps'), 'sweeps', ['sweep_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    # A pruned trial ended without a model, as a cancelled job does.
    op.execute("UPDATE jobs SET status = 'cancelled' WHERE status = 'pruned'")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_jobs_status'), _status_check(STATUSES))
        batch_op.drop_constraint(batch_op.f('fk_jobs_sweep_id_sweeps'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_jobs_sweep_id'))
        batch_op.drop_column('sampled')
        batch_op.drop_column('trial')
        batch_op.drop_column('sweep_id')
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweeps_tenant'))
        batch_op.drop_index(batch_op.f('ix_sweeps_status'))
        batch_op.drop_index(batch_op.f('ix_sweeps_dataset_id'))
        batch_op.drop_index(batch_op.f('ix_sweeps_created_at'))
    op.drop_table('sweeps')
