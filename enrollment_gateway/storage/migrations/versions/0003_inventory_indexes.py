"""Inventory listings at 10^6-10^7 certificates (bench/inventory.py): expiry ranges, scopes, SQLite substrings.

- ix_certificates_not_after becomes ix_certificates_expiry (not_after, revoked_at, created_at, id, application_id, profile_id): an
  "expiring within N days" or "expired" page, in any scope, reads its range and orders it from the index alone,
  then fetches only its 50 rows.
- The application and profile listing indexes gain not_after and revoked_at, as the global one has, so a status
  filter inside a scope skips non-matching certificates without reading their rows.
- SQLite only: (created_at, id, application_id, profile_id, search_text), so a CN/SAN substring page scans narrow
  index entries newest first instead of the wide rows (each holds two PEMs). PostgreSQL has its pg_trgm index
  (0001) instead, and a B-tree there would refuse search_text values over ~2.7 kB.

Revision ID: 0003_inventory_indexes
Revises: 0002_revocation
"""

from __future__ import annotations

from alembic import op

revision = "0003_inventory_indexes"
down_revision = "0002_revocation"
branch_labels = None
depends_on = None

SEARCH_SCAN = "ix_certificates_search_scan"  # not in tables.metadata (SQLite only); see migrations/env.py

# (old name, old columns, new name, new columns); named by hand, as the conventional names of the new ones would
# pass PostgreSQL's 63-character limit.
_REPLACED = (
    ("ix_certificates_not_after", ["not_after"],
     "ix_certificates_expiry",
     ["not_after", "revoked_at", "created_at", "id", "application_id", "profile_id"]),
    ("ix_certificates_application_id_created_at_id", ["application_id", "created_at", "id"],
     "ix_certificates_application_listing",
     ["application_id", "created_at", "id", "not_after", "revoked_at"]),
    ("ix_certificates_profile_id_created_at_id", ["profile_id", "created_at", "id"],
     "ix_certificates_profile_listing",
     ["profile_id", "created_at", "id", "not_after", "revoked_at"]),
)


def upgrade() -> None:
    for old, _, new, columns in _REPLACED:
        op.drop_index(old, table_name="certificates")
        op.create_index(new, "certificates", columns)
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(SEARCH_SCAN, "certificates", ["created_at", "id", "application_id", "profile_id",
                                                      "search_text"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(SEARCH_SCAN, table_name="certificates")
    for old, old_columns, new, _ in _REPLACED:
        op.drop_index(new, table_name="certificates")
        op.create_index(old, "certificates", old_columns)
