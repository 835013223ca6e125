"""The gateway_state table: the key-encryption key's check value and the demo set-up, shared by instances.

Revision ID: 0008_gateway_state
Revises: 0005_sqlite_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_gateway_state"
down_revision = "0007_acme_finalize_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gateway_state")),
    )


def downgrade() -> None:
    op.drop_table("gateway_state")
