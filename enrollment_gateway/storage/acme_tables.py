"""The ACME tables (migrations 0004_acme and 0007_acme_finalize_lease), on the shared metadata for Alembic."""

from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, ForeignKey, Index, Integer, LargeBinary, String, Table,
                        UniqueConstraint)

from . import tables as t
from .types import UTCDateTime

acme_accounts = Table(
    "acme_accounts",
    t.metadata,
    Column("id", t.ID, primary_key=True),
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("thumbprint", String(64), nullable=False),  # RFC 7638 SHA-256, base64url: one account per key
    Column("jwk", JSON, nullable=False),  # the public JWK as sent
    Column("status", String(16), nullable=False),  # valid | deactivated | revoked
    Column("contact", JSON, nullable=False),
    Column("eab_kid", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("endpoint_id", "thumbprint"),
)

acme_orders = Table(
    "acme_orders",
    t.metadata,
    Column("id", t.ID, primary_key=True),
    Column("endpoint_id", t.ID, nullable=False),
    Column("account_id", t.ID, ForeignKey("acme_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | ready | processing | valid | invalid
    Column("identifiers", JSON, nullable=False),  # [[type, value], ...] as the client sent them
    Column("authorizations", JSON, nullable=False),  # authorization ids, in identifier order
    Column("not_before", UTCDateTime),
    Column("not_after", UTCDateTime),
    Column("expires", UTCDateTime, nullable=False),
    Column("error", JSON),
    Column("certificate_id", t.ID),
    Column("request_id", t.ID),  # the core's request, while an approval is pending
    Column("replaces", t.ID),  # RFC 9773: the certificate this order renews
    Column("created_at", UTCDateTime, nullable=False),
    # A finalize's lease (migration 0007): past it, a `processing` order whose process died is settled by any instance.
    Column("processing_until", UTCDateTime),
    Index(None, "account_id", "created_at"),
    Index(None, "replaces"),
    Index(None, "certificate_id"),
    Index(None, "status", "processing_until"),
)

acme_authorizations = Table(
    "acme_authorizations",
    t.metadata,
    Column("id", t.ID, primary_key=True),
    Column("endpoint_id", t.ID, nullable=False),
    Column("account_id", t.ID, ForeignKey("acme_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("identifier_type", String(8), nullable=False),
    Column("identifier_value", String(255), nullable=False),  # without "*." (RFC 8555 §7.1.4)
    Column("wildcard", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # pending | valid | invalid | deactivated | revoked
    Column("expires", UTCDateTime, nullable=False),
    Column("token", String(64), nullable=False),  # one token for all of its challenges, as Boulder does
    Column("challenge_types", JSON, nullable=False),
    Column("challenge_type", String(16)),  # the one the client answered
    Column("challenge_status", String(16), nullable=False),  # pending | processing | valid | invalid
    Column("validated", UTCDateTime),
    Column("error", JSON),
    Column("records", JSON),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", UTCDateTime),  # a validator's claim; past it, another instance may take the work over
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_acme_authorizations_reuse", "account_id", "identifier_type", "identifier_value", "status"),  # < 63 chars
    Index(None, "challenge_status", "lease_until"),
)

# Redeemed nonces. Nonces are MACed (protocols/acme/nonces.py), so issuing one writes nothing; redeeming one
# inserts it here, and the primary key makes a second redemption fail on every instance. Rows leave once expired.
acme_nonces = Table(
    "acme_nonces",
    t.metadata,
    Column("value", String(64), primary_key=True),
    Column("expires", UTCDateTime, nullable=False),
    Index(None, "expires"),
)

acme_eab_keys = Table(
    "acme_eab_keys",
    t.metadata,
    Column("kid", String(64), primary_key=True),
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("hmac_key", LargeBinary, nullable=False),  # wrapped with the KEK; MACs need the key itself
    Column("reusable", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("used_at", UTCDateTime),
    Column("account_id", t.ID),  # the first account bound
    Column("revoked_at", UTCDateTime),
    Index(None, "endpoint_id"),
)
