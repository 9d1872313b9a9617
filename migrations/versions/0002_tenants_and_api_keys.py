"""tenants and API keys; datasets, jobs and models each belong to a tenant

Rows made before this revision go to the tenant "local", the one auth-off requests use.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:40:00
"""
from alembic import op
import sqlalchemy as sa
import service.database


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

OWNED_TABLES = ('datasets', 'jobs', 'models')


def upgrade() -> None:
    tenants = op.create_table('tenants',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', service.database.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_tenants'))
    )
    op.bulk_insert(tenants, [{'name': 'local', 'created_at': service.database.utcnow()}])
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', service.database.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', service.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant'], ['tenants.name'], name=op.f('fk_api_keys_tenant_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_tenant'), ['tenant'], unique=False)

    for table in OWNED_TABLES:
        # Added with a default to fill the existing rows, which is then dropped: every new row
        # must name its tenant, so forgetting one is an error rather than a row in "local".
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('tenant', sa.String(length=64), nullable=False, server_default='local'))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('tenant', server_default=None)
            batch_op.create_foreign_key(op.f(f'fk_{table}_tenant_tenants'), 'tenants', ['tenant'], ['name'])
            batch_op.create_index(op.f(f'ix_{table}_tenant'), ['tenant'], unique=False)


def downgrade() -> None:
    for table in reversed(OWNED_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(op.f(f'ix_{table}_tenant'))
            batch_op.drop_constraint(op.f(f'fk_{table}_tenant_tenants'), type_='foreignkey')
            batch_op.drop_column('tenant')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_tenant'))
    op.drop_table('api_keys')
    op.drop_table('tenants')
