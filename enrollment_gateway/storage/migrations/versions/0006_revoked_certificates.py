"""Revocation entries in a table of their own, so deleting an inventory row never un-revokes a certificate.

Revision ID: 0006
Revises: 0005_sqlite_search

RFC 5280 §3.3: an entry stays on the CRL until the certificate has expired. Until now CRLs and OCSP read the
revocation columns of `certificates`, so deleting the row dropped the serial from the next CRL and made OCSP answer
`unknown`. The entries of every certificate revoked so far are copied over.

`deleted_certificates` remembers, through a trigger on `certificates` (so whatever deletes the row), that the
issuer signed a serial: OCSP answers `good` for it, not `unknown` (RFC 6960 §2.2: unknown is for what the
responder does not know).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005_sqlite_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_certificates",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=42), nullable=False),
        sa.Column("certificate_id", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revocation_reason", sa.String(length=32), nullable=False),
        sa.Column("invalidity_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", "serial", name=op.f("pk_revoked_certificates")),
    )
    op.create_index(op.f("ix_revoked_certificates_issuer_id_not_after"), "revoked_certificates",
                    ["issuer_id", "not_after"])
    op.execute(
        "INSERT INTO revoked_certificates (issuer_id, serial, certificate_id, revoked_at, revocation_reason,"
        " invalidity_date, not_after)"
        " SELECT issuer_key, serial, id, revoked_at, COALESCE(revocation_reason, 'unspecified'), invalidity_date,"
        " not_after FROM certificates WHERE revoked_at IS NOT NULL"
    )


    op.create_table(
        "deleted_certificates",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=42), nullable=False),
        sa.Column("certificate_id", sa.String(length=32), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", "serial", name=op.f("pk_deleted_certificates")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION certificates_remember_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " INSERT INTO deleted_certificates (issuer_id, serial, certificate_id, not_after)"
            " VALUES (OLD.issuer_key, OLD.serial, OLD.id, OLD.not_after) ON CONFLICT DO NOTHING;"
            " RETURN OLD; END $$"
        )
        op.execute(
            "CREATE TRIGGER certificates_remember_deleted AFTER DELETE ON certificates"
            " FOR EACH ROW EXECUTE FUNCTION certificates_remember_deleted()"
        )
    else:
        op.execute(
            "CREATE TRIGGER certificates_remember_deleted AFTER DELETE ON certificates BEGIN"
            " INSERT OR IGNORE INTO deleted_certificates (issuer_id, serial, certificate_id, not_after)"
            " VALUES (old.issuer_key, old.serial, old.id, old.not_after); END"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS certificates_remember_deleted"
               + (" ON certificates" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS certificates_remember_deleted()")
    op.drop_table("deleted_certificates")
    op.drop_index(op.f("ix_revoked_certificates_issuer_id_not_after"), table_name="revoked_certificates")
    op.drop_table("revoked_certificates")
