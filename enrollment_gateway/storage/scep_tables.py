"""The SCEP tables (migration 0010_scep), on the shared metadata so Alembic autogenerate sees them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, LargeBinary, String, Table, Text

from . import tables as t
from .types import UTCDateTime

# Per SCEP endpoint: how PKCSReq challenges are checked and what GetCACert returns.
scep_settings = Table(
    "scep_settings",
    t.metadata,
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True),
    Column("challenge_mode", String(16), nullable=False),  # static | one_time | webhook
    Column("static_challenge", LargeBinary),  # wrapped with the KEK (bound to the endpoint)
    Column("webhook_url", Text),
    Column("include_root", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

# The RA certificates (RFC 8894 §2.1.1.1) of each endpoint: the newest is served, older ones still open envelopes
# made by clients that fetched GetCACert before a renewal.
scep_ra_certificates = Table(
    "scep_ra_certificates",
    t.metadata,
    Column("id", t.ID, primary_key=True),
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("ca_id", t.ID, nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("key_blob", LargeBinary, nullable=False),  # PEM private key wrapped with the KEK
    Column("not_after", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "endpoint_id", "not_after"),
)

# One-time challenge passwords minted by an admin (NDES-style); the value is random, so its SHA-256 suffices.
scep_challenges = Table(
    "scep_challenges",
    t.metadata,
    Column("digest", String(64), primary_key=True),
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# transactionID -> outcome, so a re-sent PKCSReq gets the same answer and CertPoll finds its request.
scep_transactions = Table(
    "scep_transactions",
    t.metadata,
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True),
    Column("transaction_id", String(128), primary_key=True),
    Column("key_digest", String(64), nullable=False),  # SHA-256 of the requester key's SubjectPublicKeyInfo
    Column("request_id", t.ID),
    Column("certificate_id", t.ID),
    Column("created_at", UTCDateTime, nullable=False),
)
