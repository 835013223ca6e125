"""SQLite: a trigram full-text index over certificates' CN/SAN search text.

Revision ID: 0005_sqlite_search
Revises: 0004_acme

A substring filter that matches few or no certificates made SQLite scan every entry (about 0.3 s at 10^6 rows);
an FTS5 trigram index answers it from the index. PostgreSQL has its pg_trgm index (0001) and needs nothing here.
Triggers keep it in step with `certificates`, so no code path has to remember it.
"""

from __future__ import annotations

from alembic import op

revision = "0005_sqlite_search"
down_revision = "0004_acme"
branch_labels = None
depends_on = None

TABLE = "certificate_search"  # not in tables.metadata (SQLite only); see migrations/env.py

_STATEMENTS = (
    # Rows are found by certificate id through the index itself (a phrase match on the id, then equality), not
    # by rowid: VACUUM may renumber the rowids of a table whose key is not an INTEGER PRIMARY KEY.
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(search_text, certificate_id, tokenize='trigram')",
    f"INSERT INTO {TABLE} (search_text, certificate_id) SELECT search_text, id FROM certificates",
    f"""CREATE TRIGGER {TABLE}_insert AFTER INSERT ON certificates BEGIN
        INSERT INTO {TABLE} (search_text, certificate_id) VALUES (new.search_text, new.id);
    END""",
    f"""CREATE TRIGGER {TABLE}_delete AFTER DELETE ON certificates BEGIN
        DELETE FROM {TABLE} WHERE {TABLE} MATCH 'certificate_id:"' || old.id || '"' AND certificate_id = old.id;
    END""",
    f"""CREATE TRIGGER {TABLE}_update AFTER UPDATE OF search_text ON certificates BEGIN
        UPDATE {TABLE} SET search_text = new.search_text
        WHERE {TABLE} MATCH 'certificate_id:"' || old.id || '"' AND certificate_id = old.id;
    END""",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
