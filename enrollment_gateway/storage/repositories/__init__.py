"""Repositories: the only code that knows the tables. Each converts rows to and from domain dataclasses.

To add one (e.g. for ACME tables declared in your own module on `tables.metadata`), subclass
`_base.Repository` (it gives you `self._conn`, the transaction's AsyncConnection, and `self._dialect`) and add
an attribute to `Tx` below, or build it from `tx.connection` and `tx.dialect` in your own module. Wrap
writes that can hit a UNIQUE or FOREIGN KEY constraint in
`with conflicts("thing"):` so they surface as GatewayError(CONFLICT).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import AuditRepository
from .authorities import CARepository, CounterRepository, CRLRepository, KeyRepository, StoredCRL
from .catalog import ApplicationRepository, EndpointRepository, PolicyRepository, ProfileRepository
from .certificates import CertificateFilter, CertificateRepository, RevokedEntry
from .identities import IdentityRepository, MembershipRepository
from .requests import RequestRepository

__all__ = ["Tx", "CertificateFilter", "RevokedEntry", "StoredCRL"]


class Tx:
    """One database transaction, seen through its repositories. Made by `Database.transaction()`."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self.connection = connection  # for repositories added elsewhere; the core should not use it
        self.dialect = dialect
        self.cas = CARepository(connection, dialect)
        self.keys = KeyRepository(connection, dialect)
        self.policies = PolicyRepository(connection, dialect)
        self.profiles = ProfileRepository(connection, dialect)
        self.applications = ApplicationRepository(connection, dialect)
        self.endpoints = EndpointRepository(connection, dialect)
        self.identities = IdentityRepository(connection, dialect)
        self.memberships = MembershipRepository(connection, dialect)
        self.certificates = CertificateRepository(connection, dialect)
        self.requests = RequestRepository(connection, dialect)
        self.audit = AuditRepository(connection, dialect)
        self.counters = CounterRepository(connection, dialect)
        self.crls = CRLRepository(connection, dialect)
