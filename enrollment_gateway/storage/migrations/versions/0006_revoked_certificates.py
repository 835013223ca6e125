"""Revocation entries in a table of their own, so deleting an inventory row never un-revokes a certificate.

Revision ID: 0006
Revises: 0005_sqlite_search

RFC 5280 §3.3: an entry stays on the CRL until the certificate has expired. Until now CRLs and OCSP read the
revocation columns of `certificates`, so deleting the row dropped the serial from the next CRL and made OCSP answer
`unknown`. The entries of every certificate revoked so far are copied over.
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


def downgrade() -> None:
    op.drop_index(op.f("ix_revoked_certificates_issuer_id_not_after"), table_name="revoked_certificates")
    op.drop_table("revoked_certificates")
