"""retention: holds, destruction records, purge claims, scheduler jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_policy', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('purge_run_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('purge_claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_recordings_state_expires_at', ['state', 'expires_at'], unique=False)

    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=120), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    op.create_table('legal_hold_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hold_id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=True),
    sa.Column('case_reference', sa.String(length=120), nullable=True),
    sa.CheckConstraint('(recording_id IS NULL) <> (case_reference IS NULL)', name='ck_legal_hold_items_one_target'),
    sa.ForeignKeyConstraint(['hold_id'], ['legal_holds.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('legal_hold_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_hold_items_case_reference'), ['case_reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_legal_hold_items_hold_id'), ['hold_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_legal_hold_items_recording_id'), ['recording_id'], unique=False)

    op.create_table('destruction_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=True),
    sa.Column('consent_record_id', sa.Integer(), nullable=True),
    sa.Column('object_key', sa.String(length=255), nullable=True),
    sa.Column('versions_removed', sa.Integer(), nullable=False),
    sa.Column('key_destroyed', sa.Boolean(), nullable=False),
    sa.Column('consent_records_removed', sa.Integer(), nullable=False),
    sa.Column('retention_class', sa.String(length=64), nullable=False),
    sa.Column('retention_period', sa.String(length=32), nullable=False),
    sa.Column('policy_id', sa.String(length=120), nullable=False),
    sa.Column('policy_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('resumed_from_run', sa.String(length=36), nullable=True),
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('audit_seq', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('consent_record_id'),
    sa.UniqueConstraint('recording_id')
    )
    with op.batch_alter_table('destruction_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destruction_records_destroyed_at'), ['destroyed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_destruction_records_run_id'), ['run_id'], unique=False)

    # APScheduler 3 SQLAlchemyJobStore's table, created here so nodes never race to create it.
    op.create_table('apscheduler_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apscheduler_jobs_next_run_time'), ['next_run_time'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apscheduler_jobs_next_run_time'))

    op.drop_table('apscheduler_jobs')
    with op.batch_alter_table('destruction_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destruction_records_run_id'))
        batch_op.drop_index(batch_op.f('ix_destruction_records_destroyed_at'))

    op.drop_table('destruction_records')
    with op.batch_alter_table('legal_hold_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legal_hold_items_recording_id'))
        batch_op.drop_index(batch_op.f('ix_legal_hold_items_hold_id'))
        batch_op.drop_index(batch_op.f('ix_legal_hold_items_case_reference'))

    op.drop_table('legal_hold_items')
    op.drop_table('legal_holds')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_state_expires_at')
        batch_op.drop_column('purge_claimed_at')
        batch_op.drop_column('purge_run_id')
        batch_op.drop_column('retention_policy')
