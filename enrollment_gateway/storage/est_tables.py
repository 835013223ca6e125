"""The EST tables (migration 0009_est), on the shared metadata so Alembic autogenerate sees them."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table

from . import tables as t
from .types import UTCDateTime

# One row per endpoint whose EST settings an admin changed; an endpoint without a row uses the defaults.
est_endpoints = Table(
    "est_endpoints",
    t.metadata,
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True),
    Column("settings", JSON, nullable=False),  # core/est_credentials.EstEndpointSettings.to_json()
    Column("updated_at", UTCDateTime, nullable=False),
)

# HTTP Basic credentials of devices (RFC 7030 §3.2.3), issued per endpoint; the password is stored scrypt-hashed.
est_credentials = Table(
    "est_credentials",
    t.metadata,
    Column("username", String(64), primary_key=True),
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", UTCDateTime),
    Index(None, "endpoint_id"),
)

# simpleenroll requests parked for approval, by the CSR that asked: the device re-sends the same CSR (RFC 7030
# §4.2.3) and must find the same core request, not open a second one.
est_requests = Table(
    "est_requests",
    t.metadata,
    Column("endpoint_id", t.ID, ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True),
    Column("csr_sha256", String(64), primary_key=True),
    Column("request_id", t.ID, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
