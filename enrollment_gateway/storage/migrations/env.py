"""Alembic environment: runs on the sync connection `Database` passes in `config.attributes["connection"]`.

`Database.open` calls this through `AsyncConnection.run_sync` inside its own transaction (holding the
PostgreSQL advisory lock), so nothing here opens connections or commits.
"""

from __future__ import annotations

import importlib

from alembic import context

from enrollment_gateway.storage.tables import metadata

# Modules that add tables to the shared metadata (see storage/tables.py); listed so autogenerate sees them.
TABLE_MODULES: tuple[str, ...] = (
    "enrollment_gateway.storage.repositories.revocation",
    "enrollment_gateway.storage.acme_tables",
    "enrollment_gateway.storage.gateway_state",
    "enrollment_gateway.storage.scep_tables",
    "enrollment_gateway.storage.est_tables",
)

for _name in TABLE_MODULES:
    importlib.import_module(_name)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through enrollment_gateway.storage.engine (Database.open)")

# Made by hand, for one engine only (0001: PostgreSQL's pg_trgm index; 0003: SQLite's substring scan index);
# not in the metadata on purpose.
# 0005: SQLite's FTS5 trigram table and the shadow tables FTS5 keeps beside it.
_UNMODELLED = {"ix_certificates_search_text_trgm", "ix_certificates_search_scan"}
_UNMODELLED_PREFIXES = ("certificate_search",)


def _include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001 (alembic's hook)
    return name not in _UNMODELLED and not (name or "").startswith(_UNMODELLED_PREFIXES)


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=_include_object,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds the table instead
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
