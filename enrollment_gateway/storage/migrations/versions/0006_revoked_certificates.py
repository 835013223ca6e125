"""Revocation entries in a table of their own, so deleting an inventory row never un-revokes a certificate.

Revision ID: 0006
Revises: 0005_sqlite_search

RFC 5280 §3.3: an entry stays on the CRL until the certificate has expired. Until now CRLs and OCSP read the
revocation columns of `certificates`, so deleting the row dropped the serial from the next CRL and made OCSP answer
`unknown`. `revoked_certificates` is kept in step with those columns by triggers (as 0005 keeps its search index),
so whatever writes a revocation (the core, an import, a script) fills it and whatever deletes the row leaves it;
the entries of every certificate revoked so far are copied over.

`deleted_certificates` remembers, through a trigger on deletion (so whatever deletes the row), that the issuer
signed a serial: OCSP answers `good` for it, not `unknown` (RFC 6960 §2.2: unknown is for what the responder does
not know).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_revoked_certificates"
down_revision = "0005_sqlite_search"
branch_labels = None
depends_on = None

_COLUMNS = "issuer_id, serial, certificate_id, revoked_at, revocation_reason, invalidity_date, not_after"
_NEW = "new.issuer_key, new.serial, new.id, new.revoked_at, COALESCE(new.revocation_reason, 'unspecified'), " \
       "new.invalidity_date, new.not_after"
_TRIGGERS = ("certificates_revocation_insert", "certificates_revocation_update", "certificates_remember_deleted")

_SQLITE = (
    f"""CREATE TRIGGER certificates_revocation_insert AFTER INSERT ON certificates
        WHEN new.revoked_at IS NOT NULL BEGIN
        INSERT OR REPLACE INTO revoked_certificates ({_COLUMNS}) VALUES ({_NEW});
    END""",
    f"""CREATE TRIGGER certificates_revocation_update
        AFTER UPDATE OF revoked_at, revocation_reason, invalidity_date ON certificates BEGIN
        DELETE FROM revoked_certificates
            WHERE new.revoked_at IS NULL AND issuer_id = old.issuer_key AND serial = old.serial;
        INSERT OR REPLACE INTO revoked_certificates ({_COLUMNS}) SELECT {_NEW} WHERE new.revoked_at IS NOT NULL;
    END""",
    """CREATE TRIGGER certificates_remember_deleted AFTER DELETE ON certificates BEGIN
        INSERT OR IGNORE INTO deleted_certificates (issuer_id, serial, certificate_id, not_after)
            VALUES (old.issuer_key, old.serial, old.id, old.not_after);
    END""",
)

_POSTGRESQL = (
    f"""CREATE FUNCTION certificates_revocation() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF new.revoked_at IS NULL THEN
            DELETE FROM revoked_certificates WHERE issuer_id = old.issuer_key AND serial = old.serial;
        ELSE
            INSERT INTO revoked_certificates ({_COLUMNS}) VALUES ({_NEW})
            ON CONFLICT (issuer_id, serial) DO UPDATE SET certificate_id = excluded.certificate_id,
                revoked_at = excluded.revoked_at, revocation_reason = excluded.revocation_reason,
                invalidity_date = excluded.invalidity_date, not_after = excluded.not_after;
        END IF;
        RETURN new;
    END $$""",
    """CREATE TRIGGER certificates_revocation_insert AFTER INSERT ON certificates
        FOR EACH ROW WHEN (new.revoked_at IS NOT NULL) EXECUTE FUNCTION certificates_revocation()""",
    """CREATE TRIGGER certificates_revocation_update
        AFTER UPDATE OF revoked_at, revocation_reason, invalidity_date ON certificates
        FOR EACH ROW EXECUTE FUNCTION certificates_revocation()""",
    """CREATE FUNCTION certificates_remember_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO deleted_certificates (issuer_id, serial, certificate_id, not_after)
            VALUES (old.issuer_key, old.serial, old.id, old.not_after) ON CONFLICT DO NOTHING;
        RETURN old;
    END $$""",
    """CREATE TRIGGER certificates_remember_deleted AFTER DELETE ON certificates
        FOR EACH ROW EXECUTE FUNCTION certificates_remember_deleted()""",
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "revoked_certificates",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=42), nullable=False),
        sa.Column("certificate_id", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revocation_reason", sa.String(length=32), nullable=False),
        sa.Column("invalidity_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", "serial", name=op.f("pk_revoked_certificates")),
    )
    op.create_index(op.f("ix_revoked_certificates_issuer_id_not_after"), "revoked_certificates",
                    ["issuer_id", "not_after"])
    op.create_table(
        "deleted_certificates",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=42), nullable=False),
        sa.Column("certificate_id", sa.String(length=32), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", "serial", name=op.f("pk_deleted_certificates")),
    )
    op.execute(f"INSERT INTO revoked_certificates ({_COLUMNS}) SELECT issuer_key, serial, id, revoked_at,"
               " COALESCE(revocation_reason, 'unspecified'), invalidity_date, not_after FROM certificates"
               " WHERE revoked_at IS NOT NULL")
    for statement in _POSTGRESQL if _postgresql() else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON certificates" if _postgresql() else ""))
    if _postgresql():
        op.execute("DROP FUNCTION IF EXISTS certificates_revocation()")
        op.execute("DROP FUNCTION IF EXISTS certificates_remember_deleted()")
    op.drop_table("deleted_certificates")
    op.drop_index(op.f("ix_revoked_certificates_issuer_id_not_after"), table_name="revoked_certificates")
    op.drop_table("revoked_certificates")
