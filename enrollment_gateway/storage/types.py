"""Column types that keep the rows honest on both engines: UTC-aware times and big serial numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator

UTC = dt.timezone.utc


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime in and out.

    PostgreSQL stores `timestamptz` and asyncpg hands back aware values; SQLite has no time type, so SQLAlchemy
    stores a fixed-width ISO string (which sorts and compares correctly) and hands back naive values. Binding
    converts to UTC first so the naive text on SQLite always means UTC; reading marks it as such.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time here is a bug in the caller: we cannot know which zone it meant.
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SerialNumber(TypeDecorator):
    """An X.509 serial (up to 20 octets, RFC 5280 §4.1.2.2) as lowercase hex without leading zeros.

    Neither engine has a 160-bit integer that indexes well; the hex text is unique per value, so the
    UNIQUE(issuer, serial) constraint works on it directly.
    """

    impl = String(42)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        return None if value is None else format(value, "x")

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return None if value is None else int(value, 16)
