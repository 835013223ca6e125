"""ACME orders: a lease on finalization, so an order whose finalizing process died converges (issue #7, item 18).

Revision ID: 0007_acme_finalize_lease
Revises: 0005_sqlite_search

`processing_until` is set when a finalize moves an order to `processing`; once it lapses, any instance may settle
the order: attach the certificate that was signed for it, or put it back to `ready`. Orders left `processing` before
this revision have no lease and are settled at the next start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_acme_finalize_lease"
down_revision = "0006_revoked_certificates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acme_orders") as batch:
        batch.add_column(sa.Column("processing_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_acme_orders_status_processing_until"), "acme_orders", ["status", "processing_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_acme_orders_status_processing_until"), table_name="acme_orders")
    with op.batch_alter_table("acme_orders") as batch:
        batch.drop_column("processing_until")
