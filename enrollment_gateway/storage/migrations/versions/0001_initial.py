"""The initial schema: CAs, catalog, identities, certificates, requests, audit, counters and CRLs.

Written out explicitly (not from the live metadata) so this revision never changes under later edits of
tables.py. Indexes are explained beside the tables in storage/tables.py.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_REVOKED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    op.create_table('applications',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('name', name=op.f('uq_applications_name'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=200), nullable=True),
    sa.Column('application_id', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index(op.f('ix_audit_events_actor_at_id'), 'audit_events', ['actor', 'at', 'id'], unique=False)
    op.create_index(op.f('ix_audit_events_application_id_at_id'), 'audit_events', ['application_id', 'at', 'id'], unique=False)
    op.create_index(op.f('ix_audit_events_at_id'), 'audit_events', ['at', 'id'], unique=False)

    op.create_table('cas',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key_algorithm', sa.String(length=32), nullable=False),
    sa.Column('hash_algorithm', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=True),
    sa.Column('chain_pem', sa.Text(), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('path_length', sa.Integer(), nullable=True),
    sa.Column('validity_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('csr_pem', sa.Text(), nullable=True),
    sa.Column('external_parent', sa.Boolean(), nullable=False),
    sa.Column('key_blob', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['cas.id'], name=op.f('fk_cas_parent_id_cas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cas')),
    sa.UniqueConstraint('name', name=op.f('uq_cas_name'))
    )
    op.create_table('counters',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('identities',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('superadmin', sa.Boolean(), nullable=False),
    sa.Column('bypass_approval', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('token_hash', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_identities_token_hash'))
    )
    op.create_table('keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keys'))
    )
    op.create_index(op.f('ix_keys_owner_id_purpose_created_at'), 'keys', ['owner_id', 'purpose', 'created_at'], unique=False)

    op.create_table('policies',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_policies_name'))
    )
    op.create_table('crls',
    sa.Column('ca_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('this_update', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_update', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ca_id'], ['cas.id'], name=op.f('fk_crls_ca_id_cas')),
    sa.PrimaryKeyConstraint('ca_id', 'number', name=op.f('pk_crls'))
    )
    op.create_table('memberships',
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('identity_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_memberships_application_id_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], name=op.f('fk_memberships_identity_id_identities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('application_id', 'identity_id', name=op.f('pk_memberships'))
    )
    op.create_index(op.f('ix_memberships_identity_id'), 'memberships', ['identity_id'], unique=False)

    op.create_table('profiles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('ca_id', sa.String(length=32), nullable=True),
    sa.Column('policy_id', sa.String(length=32), nullable=False),
    sa.Column('defaults', sa.JSON(), nullable=False),
    sa.Column('enrollment', sa.JSON(), nullable=False),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('auto_renew', sa.Boolean(), nullable=False),
    sa.Column('renew_before_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ca_id'], ['cas.id'], name=op.f('fk_profiles_ca_id_cas')),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name=op.f('fk_profiles_policy_id_policies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profiles')),
    sa.UniqueConstraint('name', name=op.f('uq_profiles_name'))
    )
    op.create_index(op.f('ix_profiles_ca_id'), 'profiles', ['ca_id'], unique=False)
    op.create_index(op.f('ix_profiles_policy_id'), 'profiles', ['policy_id'], unique=False)

    op.create_table('certificates',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('issuer_key', sa.String(length=32), nullable=False),
    sa.Column('serial', sa.String(length=42), nullable=False),
    sa.Column('ca_id', sa.String(length=32), nullable=True),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('common_name', sa.Text(), nullable=True),
    sa.Column('sans', sa.JSON(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_algorithm', sa.String(length=32), nullable=False),
    sa.Column('signature_algorithm', sa.String(length=32), nullable=False),
    sa.Column('fingerprint_sha256', sa.String(length=64), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('chain_pem', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('managed_key_blob', sa.LargeBinary(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.String(length=32), nullable=True),
    sa.Column('invalidity_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaces_id', sa.String(length=32), nullable=True),
    sa.Column('is_ca', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_certificates_application_id_applications')),
    sa.ForeignKeyConstraint(['ca_id'], ['cas.id'], name=op.f('fk_certificates_ca_id_cas')),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_certificates_profile_id_profiles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('issuer_key', 'serial', name=op.f('uq_certificates_issuer_key_serial'))
    )
    op.create_index(op.f('ix_certificates_application_id_created_at_id'), 'certificates', ['application_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_certificates_created_at_id_not_after_revoked_at'), 'certificates', ['created_at', 'id', 'not_after', 'revoked_at'], unique=False)
    op.create_index(op.f('ix_certificates_not_after'), 'certificates', ['not_after'], unique=False)
    op.create_index(op.f('ix_certificates_profile_id_created_at_id'), 'certificates', ['profile_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_certificates_replaces_id'), 'certificates', ['replaces_id'], unique=False)
    op.create_index('ix_certificates_revoked_created', 'certificates', ['created_at', 'id'], unique=False, sqlite_where=_REVOKED, postgresql_where=_REVOKED)
    op.create_index('ix_certificates_revoked_issuer', 'certificates', ['issuer_key', 'not_after'], unique=False, sqlite_where=_REVOKED, postgresql_where=_REVOKED)

    op.create_table('endpoints',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_endpoints_application_id_applications')),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_endpoints_profile_id_profiles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_endpoints')),
    sa.UniqueConstraint('application_id', 'profile_id', name=op.f('uq_endpoints_application_id_profile_id'))
    )
    op.create_index(op.f('ix_endpoints_profile_id'), 'endpoints', ['profile_id'], unique=False)

    op.create_table('requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('endpoint_id', sa.String(length=32), nullable=True),
    sa.Column('requester_id', sa.String(length=200), nullable=False),
    sa.Column('requester_name', sa.String(length=200), nullable=False),
    sa.Column('protocol', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('csr_pem', sa.Text(), nullable=True),
    sa.Column('managed_key_algorithm', sa.String(length=32), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('sans', sa.JSON(), nullable=False),
    sa.Column('ttl_seconds', sa.Integer(), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('certificate_id', sa.String(length=32), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('replaces_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_requests_application_id_applications')),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_requests_profile_id_profiles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requests'))
    )
    op.create_index(op.f('ix_requests_application_id_created_at_id'), 'requests', ['application_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_requests_created_at_id'), 'requests', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_requests_status_created_at_id'), 'requests', ['status', 'created_at', 'id'], unique=False)

    op.create_table('certificate_metadata',
    sa.Column('certificate_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_metadata_certificate_id_certificates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('certificate_id', 'key', name=op.f('pk_certificate_metadata')),
    sqlite_with_rowid=False,
    )
    op.create_index(op.f('ix_certificate_metadata_key_value_created_at_certificate_id'), 'certificate_metadata', ['key', 'value', 'created_at', 'certificate_id'], unique=False)

    _search_text_trigram_index()
    _audit_append_only()


def _search_text_trigram_index() -> None:
    """On PostgreSQL, a trigram index makes `search_text LIKE '%x%'` an index search instead of a scan.

    pg_trgm needs CREATE privilege on the database (it is a trusted extension since PostgreSQL 13). Without it
    the listing still works, only slower, so a failure is tolerated inside a savepoint.
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite scans search_text; fine at its scale
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        pass
    # The extension may live in another schema than our tables (e.g. public while we use search_path=t_x).
    schema = bind.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar()
    if schema is None:
        return
    bind.exec_driver_sql(
        "CREATE INDEX ix_certificates_search_text_trgm ON certificates "
        f"USING gin (search_text {schema}.gin_trgm_ops)"
    )


def _audit_append_only() -> None:
    """The audit trail is append-only in the database too, not only by the repository's lack of methods."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "certificate_metadata",
        "requests",
        "endpoints",
        "certificates",
        "profiles",
        "memberships",
        "crls",
        "policies",
        "keys",
        "identities",
        "counters",
        "cas",
        "audit_events",
        "applications",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
