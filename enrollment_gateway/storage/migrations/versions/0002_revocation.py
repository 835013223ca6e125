"""Revocation of CA certificates held in the gateway (see storage/repositories/revocation.py).

Revision ID: 0002_revocation
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_revocation"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_revocations",
        sa.Column("ca_id", sa.String(length=32), nullable=False),
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=42), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revocation_reason", sa.String(length=32), nullable=False),
        sa.Column("invalidity_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ca_id", name=op.f("pk_ca_revocations")),
    )
    op.create_index(op.f("ix_ca_revocations_issuer_id_serial"), "ca_revocations", ["issuer_id", "serial"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ca_revocations_issuer_id_serial"), table_name="ca_revocations")
    op.drop_table("ca_revocations")
