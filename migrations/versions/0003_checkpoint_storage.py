"""checkpoint and model bytes stored without compression; autovacuum that keeps up with checkpoints

PostgreSQL only (SQLite has neither setting). ``STORAGE EXTERNAL`` keeps the bytes out of line
but skips pglz: weights and optimizer state are floats it cannot shrink, and trying costs time
(a 16.9 MB checkpoint took 0.53-0.99 s to write with the default, 0.17-0.20 s without, and was
16.9 MB stored either way). The worker vacuums ``checkpoints`` after each write (see
worker/checkpointing.py); the autovacuum settings are the net for when it cannot (a role that
does not own the table, a worker killed in between): vacuum the TOAST table once 10,000 dead
chunks (about 20 MB) pile up, not 20 % of the table, and without pausing.

Revision ID: 0003_checkpoints
Revises: 0002
Create Date: 2026-12-01 21:40:00
"""
from alembic import op


revision = '0003_checkpoints'
down_revision = '0002'
branch_labels = None
depends_on = None

UNCOMPRESSED = (('checkpoints', 'data'), ('models', 'artefact'))
CHECKPOINT_AUTOVACUUM = {
    'autovacuum_vacuum_scale_factor': '0',
    'autovacuum_vacuum_threshold': '100',
    'toast.autovacuum_vacuum_scale_factor': '0',
    'toast.autovacuum_vacuum_threshold': '10000',
    'toast.autovacuum_vacuum_cost_delay': '0',
}


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column in UNCOMPRESSED:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL')
    settings = ', '.join(f'{name} = {value}' for name, value in CHECKPOINT_AUTOVACUUM.items())
    op.execute(f'ALTER TABLE checkpoints SET ({settings})')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f'ALTER TABLE checkpoints RESET ({", ".join(CHECKPOINT_AUTOVACUUM)})')
    for table, column in UNCOMPRESSED:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTENDED')
