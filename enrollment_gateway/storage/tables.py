"""The gateway's tables as SQLAlchemy Core, on one shared `metadata`.

Adding tables in another module (e.g. ACME accounts and orders):

1. In your module, `from enrollment_gateway.storage.tables import metadata` and declare
   `Table("acme_accounts", metadata, ...)` with the column types from `storage.types` (`UTCDateTime` for every
   time, `SerialNumber` for serials). Import your module from `storage/migrations/env.py`'s `TABLE_MODULES` so
   autogenerate sees it.
2. Add a revision `storage/migrations/versions/0002_acme.py` with `revision = "0002_acme"`,
   `down_revision = "0001_initial"` and explicit `op.create_table(...)` calls (autogenerate one with
   `alembic revision --autogenerate` against a database at head, then read and trim it). Never edit 0001.
3. Keep the domain dataclasses apart: a repository module converts rows to dataclasses, and a `Tx` attribute
   exposes it (see `storage/repositories/__init__.py`).

Naming: constraints and indexes follow `metadata.naming_convention`, so migrations can refer to them by name.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from .types import SerialNumber, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = String(32)  # uuid4 hex, made by the callers
NAME = String(200)

cas = Table(
    "cas",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("key_algorithm", String(32), nullable=False),
    Column("hash_algorithm", String(16)),
    Column("status", String(32), nullable=False),
    Column("certificate_pem", Text),
    Column("chain_pem", Text, nullable=False),
    Column("parent_id", ID, ForeignKey("cas.id")),
    Column("path_length", Integer),
    Column("validity_days", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("csr_pem", Text),
    Column("external_parent", Boolean, nullable=False),
    Column("key_blob", LargeBinary, nullable=False),  # encrypted by the signer layer; opaque here
)

# Other encrypted key blobs (OCSP responder keys, ...): several per owner and purpose, newest wins.
keys = Table(
    "keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "owner_id", "purpose", "created_at"),
)

policies = Table(
    "policies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("rules", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("ca_id", ID, ForeignKey("cas.id"), index=True),  # NULL: self-signed
    Column("policy_id", ID, ForeignKey("policies.id"), nullable=False, index=True),
    Column("defaults", JSON, nullable=False),  # ProfileDefaults; never queried, so one JSON value
    Column("enrollment", JSON, nullable=False),
    Column("approval_required", Boolean, nullable=False),
    Column("auto_renew", Boolean, nullable=False),
    Column("renew_before_days", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("application_id", ID, ForeignKey("applications.id"), nullable=False),
    Column("profile_id", ID, ForeignKey("profiles.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("application_id", "profile_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("superadmin", Boolean, nullable=False),
    Column("bypass_approval", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("token_hash", String(128), unique=True),  # looked up on every authenticated request
)

memberships = Table(
    "memberships",
    metadata,
    # A membership means nothing without its application or identity: let it go with them.
    Column("application_id", ID, ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True),
    Column("identity_id", ID, ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("id", ID, primary_key=True),
    Column("application_id", ID, ForeignKey("applications.id"), nullable=False),
    Column("profile_id", ID, ForeignKey("profiles.id"), nullable=False),
    Column("endpoint_id", ID),
    Column("requester_id", String(200), nullable=False),
    Column("requester_name", String(200), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("csr_pem", Text),
    Column("managed_key_algorithm", String(32)),
    Column("subject", Text),
    Column("sans", JSON, nullable=False),
    Column("ttl_seconds", Integer),
    Column("not_before", UTCDateTime),
    Column("not_after", UTCDateTime),
    Column("metadata", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("certificate_id", ID),  # no FK: the certificate row is written after the request row
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime),
    Column("reason", Text),
    Column("replaces_id", ID),
    Index(None, "created_at", "id"),
    Index(None, "application_id", "created_at", "id"),
    Index(None, "status", "created_at", "id"),  # the approval queue: pending, newest first
)

certificates = Table(
    "certificates",
    metadata,
    Column("id", ID, primary_key=True),
    # ca_id, or "self" for self-signed certificates, so UNIQUE(issuer_key, serial) holds for them too
    # (a NULL would make every self-signed row distinct to the constraint).
    Column("issuer_key", ID, nullable=False),
    Column("serial", SerialNumber, nullable=False),
    Column("ca_id", ID, ForeignKey("cas.id")),
    Column("application_id", ID, ForeignKey("applications.id"), nullable=False),
    Column("profile_id", ID, ForeignKey("profiles.id"), nullable=False),
    Column("request_id", ID),
    Column("subject", Text, nullable=False),
    Column("common_name", Text),
    Column("sans", JSON, nullable=False),
    Column("search_text", Text, nullable=False),  # lower(CN + SANs), for the substring filter
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("key_algorithm", String(32), nullable=False),
    Column("signature_algorithm", String(32), nullable=False),
    Column("fingerprint_sha256", String(64), nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("chain_pem", Text, nullable=False),
    # The metadata is kept twice on purpose: this JSON copy lets a listing read a page in one query; the
    # certificate_metadata rows are what the key=value filter searches by index.
    Column("metadata", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("managed_key_blob", LargeBinary),  # never selected by listings
    Column("revoked_at", UTCDateTime),
    Column("revocation_reason", String(32)),
    Column("invalidity_date", UTCDateTime),
    Column("replaces_id", ID, index=True),
    Column("is_ca", Boolean, nullable=False),
    UniqueConstraint("issuer_key", "serial"),  # also serves count_for_ca and get_by_serial
    # Listings are newest first, so each scope gets (scope, created_at, id) to read a page off an index.
    # not_after and revoked_at ride along in the main listing index so status filters (an "expired" page skips
    # every active certificate first) are decided from the index, without a table lookup per skipped row.
    Index(None, "created_at", "id", "not_after", "revoked_at"),
    # The same for the application and profile scopes (every non-superadmin listing is application-scoped).
    # (Named by hand: the conventional names would pass PostgreSQL's 63-character limit.)
    Index("ix_certificates_application_listing", "application_id", "created_at", "id", "not_after", "revoked_at"),
    Index("ix_certificates_profile_listing", "profile_id", "created_at", "id", "not_after", "revoked_at"),
    # expiring_before, expiry sweeps; and an "expired" or "expiring within N days" page, in any scope, orders its
    # range from this index alone and reads only the rows it returns (see CertificateRepository.list).
    Index("ix_certificates_expiry", "not_after", "revoked_at", "created_at", "id", "application_id", "profile_id"),
    # SQLite also has ix_certificates_search_scan (created_at, id, application_id, profile_id, search_text), made
    # in migration 0003 and not declared here because PostgreSQL uses its pg_trgm index instead.
    # Revoked rows are few: partial indexes keep the revoked listing and the CRL build off the big indexes.
    Index(
        "ix_certificates_revoked_created",
        "created_at",
        "id",
        sqlite_where="revoked_at IS NOT NULL",
        postgresql_where="revoked_at IS NOT NULL",
    ),
    Index(
        "ix_certificates_revoked_issuer",
        "issuer_key",
        "not_after",
        sqlite_where="revoked_at IS NOT NULL",
        postgresql_where="revoked_at IS NOT NULL",
    ),
)

certificate_metadata = Table(
    "certificate_metadata",
    metadata,
    Column("certificate_id", ID, ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    # A copy of the certificate's created_at, so a key=value listing reads its page newest first straight off
    # this index, whether the pair is rare or on half the certificates.
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "key", "value", "created_at", "certificate_id"),
    sqlite_with_rowid=False,  # small rows keyed by the PK: one B-tree instead of two on every insert
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("actor_name", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(200)),
    Column("application_id", ID),  # no FK: the trail outlives what it talks about
    Column("outcome", String(16), nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "at", "id"),
    Index(None, "application_id", "at", "id"),
    Index(None, "actor", "at", "id"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

crls = Table(
    "crls",
    metadata,
    Column("ca_id", ID, ForeignKey("cas.id"), primary_key=True),
    # CRL numbers may reach 20 octets (RFC 5280 §5.2.3); ours come from a BigInteger counter, but the
    # column takes what the type allows.
    Column("number", BigInteger, primary_key=True),
    Column("der", LargeBinary, nullable=False),
    Column("this_update", UTCDateTime, nullable=False),
    Column("next_update", UTCDateTime, nullable=False),
)
