"""initial catalogue

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('hash')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_recording_id'), ['recording_id'], unique=False)

    op.create_table('case_refs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    op.create_table('recordings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('call_id', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('channels', sa.Integer(), nullable=False),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=120), nullable=True),
    sa.Column('agent', sa.String(length=120), nullable=True),
    sa.Column('caller_hash', sa.String(length=64), nullable=True),
    sa.Column('caller_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('plaintext_bytes', sa.BigInteger(), nullable=False),
    sa.Column('stored_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256_plaintext', sa.String(length=64), nullable=False),
    sa.Column('sha256_ciphertext', sa.String(length=64), nullable=False),
    sa.Column('object_key', sa.String(length=255), nullable=False),
    sa.Column('retention_class', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('object_key')
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_caller_hash'), ['caller_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_service'), ['service'], unique=False)
        batch_op.create_index('ix_recordings_started_at', ['started_at'], unique=False)

    op.create_table('consent_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('call_id', sa.String(length=255), nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_records_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_records_recording_id'), ['recording_id'], unique=False)

    op.create_table('recording_case_refs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('recording_id', sa.String(length=36), nullable=False),
    sa.Column('case_ref_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('added_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['case_ref_id'], ['case_refs.id'], ),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recording_case_refs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_case_refs_case_ref_id'), ['case_ref_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_case_refs_recording_id'), ['recording_id'], unique=False)
        batch_op.create_index('uq_recording_case_ref', ['recording_id', 'case_ref_id'], unique=True)

    op.create_table('recording_keys',
    sa.Column('recording_id', sa.String(length=36), nullable=False),
    sa.Column('kek_id', sa.String(length=255), nullable=False),
    sa.Column('wrapped_keyset', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('recording_id')
    )
    with op.batch_alter_table('recording_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_keys_kek_id'), ['kek_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('recording_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_keys_kek_id'))

    op.drop_table('recording_keys')
    with op.batch_alter_table('recording_case_refs', schema=None) as batch_op:
        batch_op.drop_index('uq_recording_case_ref')
        batch_op.drop_index(batch_op.f('ix_recording_case_refs_recording_id'))
        batch_op.drop_index(batch_op.f('ix_recording_case_refs_case_ref_id'))

    op.drop_table('recording_case_refs')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_records_recording_id'))
        batch_op.drop_index(batch_op.f('ix_consent_records_call_id'))

    op.drop_table('consent_records')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_started_at')
        batch_op.drop_index(batch_op.f('ix_recordings_service'))
        batch_op.drop_index(batch_op.f('ix_recordings_caller_hash'))
        batch_op.drop_index(batch_op.f('ix_recordings_call_id'))

    op.drop_table('recordings')
    op.drop_table('case_refs')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_recording_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')

