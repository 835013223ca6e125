"""SCEP state: per-endpoint settings, RA certificates, one-time challenges, transactions.

See storage/scep_tables.py and storage/repositories/scep.py.

Revision ID: 0010_scep
Revises: 0008_gateway_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_scep"
down_revision = "0009_est"
branch_labels = None
depends_on = None

ID = sa.String(length=32)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _endpoint_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f(f"fk_{table}_endpoint_id_endpoints"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "scep_settings",
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("challenge_mode", sa.String(length=16), nullable=False),
        sa.Column("static_challenge", sa.LargeBinary(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("include_root", sa.Boolean(), nullable=False),
        _time("updated_at", False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        _endpoint_fk("scep_settings"),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_scep_settings")),
    )
    op.create_table(
        "scep_ra_certificates",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("ca_id", ID, nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("key_blob", sa.LargeBinary(), nullable=False),
        _time("not_after", False),
        _time("created_at", False),
        _endpoint_fk("scep_ra_certificates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scep_ra_certificates")),
    )
    op.create_index(op.f("ix_scep_ra_certificates_endpoint_id_not_after"), "scep_ra_certificates",
                    ["endpoint_id", "not_after"])
    op.create_table(
        "scep_challenges",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        _time("expires_at", False),
        _time("used_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("created_at", False),
        _endpoint_fk("scep_challenges"),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_scep_challenges")),
    )
    op.create_table(
        "scep_transactions",
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("transaction_id", sa.String(length=128), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("request_id", ID, nullable=True),
        sa.Column("certificate_id", ID, nullable=True),
        _time("created_at", False),
        _endpoint_fk("scep_transactions"),
        sa.PrimaryKeyConstraint("endpoint_id", "transaction_id", name=op.f("pk_scep_transactions")),
    )


def downgrade() -> None:
    op.drop_table("scep_transactions")
    op.drop_table("scep_challenges")
    op.drop_index(op.f("ix_scep_ra_certificates_endpoint_id_not_after"), table_name="scep_ra_certificates")
    op.drop_table("scep_ra_certificates")
    op.drop_table("scep_settings")
