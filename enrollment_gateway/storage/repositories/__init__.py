"""Repositories: the only code that knows the tables. Each converts rows to and from domain dataclasses.

To add one (e.g. for ACME tables declared in your own module on `tables.metadata`), subclass
`_base.Repository` (it gives you `self._conn`, the transaction's AsyncConnection, and `self._dialect`) and add
an attribute to `Tx` below, or build it from `tx.connection` and `tx.dialect` in your own module. Wrap
writes that can hit a UNIQUE or FOREIGN KEY constraint in
`with conflicts("thing"):` so they surface as GatewayError(CONFLICT).
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import AuditRepository
from .authorities import CARepository, CounterRepository, CRLRepository, KeyRepository, StoredCRL
from .catalog import ApplicationRepository, EndpointRepository, PolicyRepository, ProfileRepository
from .certificates import CertificateFilter, CertificateRepository, RevokedEntry
from .identities import IdentityRepository, MembershipRepository
from .requests import RequestRepository

__all__ = ["Tx", "CertificateFilter", "RevokedEntry", "StoredCRL"]


class Tx:
    """One database transaction, seen through its repositories. Made by `Database.transaction()`.

    Each repository is made on first use: most transactions touch one or two of them, and every request opens
    at least one transaction.
    """

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self.connection = connection  # for repositories added elsewhere; the core should not use it
        self.dialect = dialect

    @cached_property
    def cas(self) -> CARepository:
        return CARepository(self.connection, self.dialect)

    @cached_property
    def keys(self) -> KeyRepository:
        return KeyRepository(self.connection, self.dialect)

    @cached_property
    def policies(self) -> PolicyRepository:
        return PolicyRepository(self.connection, self.dialect)

    @cached_property
    def profiles(self) -> ProfileRepository:
        return ProfileRepository(self.connection, self.dialect)

    @cached_property
    def applications(self) -> ApplicationRepository:
        return ApplicationRepository(self.connection, self.dialect)

    @cached_property
    def endpoints(self) -> EndpointRepository:
        return EndpointRepository(self.connection, self.dialect)

    @cached_property
    def identities(self) -> IdentityRepository:
        return IdentityRepository(self.connection, self.dialect)

    @cached_property
    def memberships(self) -> MembershipRepository:
        return MembershipRepository(self.connection, self.dialect)

    @cached_property
    def certificates(self) -> CertificateRepository:
        return CertificateRepository(self.connection, self.dialect)

    @cached_property
    def requests(self) -> RequestRepository:
        return RequestRepository(self.connection, self.dialect)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.connection, self.dialect)

    @cached_property
    def counters(self) -> CounterRepository:
        return CounterRepository(self.connection, self.dialect)

    @cached_property
    def crls(self) -> CRLRepository:
        return CRLRepository(self.connection, self.dialect)
