"""ACME state: accounts, orders, authorizations (with their challenges), redeemed nonces, EAB keys.

See storage/repositories/acme.py.

Revision ID: 0004_acme
Revises: 0003_inventory_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_acme"
down_revision = "0003_inventory_indexes"
branch_labels = None
depends_on = None

ID = sa.String(length=32)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "acme_nonces",
        sa.Column("value", sa.String(length=64), nullable=False),
        _time("expires", False),
        sa.PrimaryKeyConstraint("value", name=op.f("pk_acme_nonces")),
    )
    op.create_index(op.f("ix_acme_nonces_expires"), "acme_nonces", ["expires"])
    op.create_table(
        "acme_accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.JSON(), nullable=False),
        sa.Column("eab_kid", sa.String(length=64), nullable=True),
        _time("created_at", False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_acme_accounts_endpoint_id_endpoints"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_accounts")),
        sa.UniqueConstraint("endpoint_id", "thumbprint", name=op.f("uq_acme_accounts_endpoint_id_thumbprint")),
    )
    op.create_table(
        "acme_eab_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("hmac_key", sa.LargeBinary(), nullable=False),
        sa.Column("reusable", sa.Boolean(), nullable=False),
        _time("created_at", False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _time("used_at"),
        sa.Column("account_id", ID, nullable=True),
        _time("revoked_at"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_acme_eab_keys_endpoint_id_endpoints"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_acme_eab_keys")),
    )
    op.create_index(op.f("ix_acme_eab_keys_endpoint_id"), "acme_eab_keys", ["endpoint_id"])
    op.create_table(
        "acme_authorizations",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("identifier_type", sa.String(length=8), nullable=False),
        sa.Column("identifier_value", sa.String(length=255), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("expires", False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("challenge_types", sa.JSON(), nullable=False),
        sa.Column("challenge_type", sa.String(length=16), nullable=True),
        sa.Column("challenge_status", sa.String(length=16), nullable=False),
        _time("validated"),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("records", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("lease_until"),
        _time("created_at", False),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"],
                                name=op.f("fk_acme_authorizations_account_id_acme_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_authorizations")),
    )
    op.create_index("ix_acme_authorizations_reuse", "acme_authorizations",
                    ["account_id", "identifier_type", "identifier_value", "status"])
    op.create_index(op.f("ix_acme_authorizations_challenge_status_lease_until"), "acme_authorizations",
                    ["challenge_status", "lease_until"])
    op.create_table(
        "acme_orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("authorizations", sa.JSON(), nullable=False),
        _time("not_before"),
        _time("not_after"),
        _time("expires", False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("certificate_id", ID, nullable=True),
        sa.Column("request_id", ID, nullable=True),
        sa.Column("replaces", ID, nullable=True),
        _time("created_at", False),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"],
                                name=op.f("fk_acme_orders_account_id_acme_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_orders")),
    )
    op.create_index(op.f("ix_acme_orders_account_id_created_at"), "acme_orders", ["account_id", "created_at"])
    op.create_index(op.f("ix_acme_orders_certificate_id"), "acme_orders", ["certificate_id"])
    op.create_index(op.f("ix_acme_orders_replaces"), "acme_orders", ["replaces"])


def downgrade() -> None:
    for table in ("acme_orders", "acme_authorizations", "acme_eab_keys", "acme_accounts", "acme_nonces"):
        op.drop_table(table)
