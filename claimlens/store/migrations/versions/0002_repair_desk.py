"""repair desk: districts, technicians and their coverage, repair requests (personal data encrypted), audit links

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('repair_districts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'code')
    )
    with op.batch_alter_table('repair_districts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repair_districts_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('repair_technicians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('shift_start', sa.String(length=5), nullable=False),
    sa.Column('shift_end', sa.String(length=5), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('max_jobs', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id')
    )
    with op.batch_alter_table('repair_technicians', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repair_technicians_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('repair_coverage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('travel_minutes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['repair_districts.id'], ),
    sa.ForeignKeyConstraint(['technician_id'], ['repair_technicians.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('technician_id', 'district_id')
    )
    with op.batch_alter_table('repair_coverage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repair_coverage_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_coverage_technician_id'), ['technician_id'], unique=False)

    op.create_table('repair_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=True),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('order_ref', sa.String(length=120), nullable=True),
    sa.Column('skill', sa.String(length=40), nullable=True),
    sa.Column('fault', sa.Text(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('customer_name_enc', sa.Text(), nullable=False),
    sa.Column('phone_enc', sa.Text(), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('address_enc', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('excluded', sa.JSON(), nullable=False),
    sa.Column('dispatch_note', sa.JSON(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accept_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('eta_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_site_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['district_id'], ['repair_districts.id'], ),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], ),
    sa.ForeignKeyConstraint(['technician_id'], ['repair_technicians.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('repair_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repair_requests_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_requests_due_at'), ['due_at'], unique=False)
        batch_op.create_index('ix_repair_requests_merchant_state', ['merchant_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_requests_phone_hash'), ['phone_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_requests_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_requests_technician_id'), ['technician_id'], unique=False)

    op.create_table('repair_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('audit_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['repair_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('repair_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repair_events_request_id'), ['request_id'], unique=False)



def downgrade():
    with op.batch_alter_table('repair_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_events_request_id'))

    op.drop_table('repair_events')
    with op.batch_alter_table('repair_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_requests_technician_id'))
        batch_op.drop_index(batch_op.f('ix_repair_requests_state'))
        batch_op.drop_index(batch_op.f('ix_repair_requests_phone_hash'))
        batch_op.drop_index('ix_repair_requests_merchant_state')
        batch_op.drop_index(batch_op.f('ix_repair_requests_due_at'))
        batch_op.drop_index(batch_op.f('ix_repair_requests_buyer_id'))

    op.drop_table('repair_requests')
    with op.batch_alter_table('repair_coverage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_coverage_technician_id'))
        batch_op.drop_index(batch_op.f('ix_repair_coverage_district_id'))

    op.drop_table('repair_coverage')
    with op.batch_alter_table('repair_technicians', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_technicians_merchant_id'))

    op.drop_table('repair_technicians')
    with op.batch_alter_table('repair_districts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_districts_merchant_id'))

    op.drop_table('repair_districts')
