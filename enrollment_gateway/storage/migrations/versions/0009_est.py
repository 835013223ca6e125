"""EST state: per-endpoint settings, Basic credentials, requests parked for approval by their CSR.

See storage/est_tables.py and storage/repositories/est.py.

Revision ID: 0009_est
Revises: 0008_gateway_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_est"
down_revision = "0008_gateway_state"
branch_labels = None
depends_on = None

ID = sa.String(length=32)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "est_endpoints",
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        _time("updated_at", False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_est_endpoints_endpoint_id_endpoints"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_est_endpoints")),
    )
    op.create_table(
        "est_credentials",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        _time("created_at", False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("revoked_at"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"],
                                name=op.f("fk_est_credentials_endpoint_id_endpoints"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_est_credentials")),
    )
    op.create_index(op.f("ix_est_credentials_endpoint_id"), "est_credentials", ["endpoint_id"])
    op.create_table(
        "est_requests",
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("csr_sha256", sa.String(length=64), nullable=False),
        sa.Column("request_id", ID, nullable=False),
        _time("created_at", False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_est_requests_endpoint_id_endpoints"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("endpoint_id", "csr_sha256", name=op.f("pk_est_requests")),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_est_credentials_endpoint_id"), table_name="est_credentials")
    for table in ("est_requests", "est_credentials", "est_endpoints"):
        op.drop_table(table)
