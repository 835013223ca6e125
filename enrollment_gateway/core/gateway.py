"""The composition root of the core: one object holding every service, opened from the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config, StartupError
from ..crypto.kek import KeyEncryptionKey
from ..errors import GatewayError
from ..storage.engine import Database
from .applications import Applications
from .audit import Auditor
from .bootstrap import verify_kek
from .authorities import Authorities
from .catalog import Catalog
from .clock import Clock, SystemClock
from .crl_publisher import CRLPublisher
from .est_credentials import EstCredentials
from .inventory import Inventory
from .issuance import Issuance
from .ocsp_responder import OCSPResponder
from .revocation import Issuers, Revocation
from .scep import ScepService
from .urls import UrlBuilder


@dataclass
class Gateway:
    config: Config
    db: Database
    kek: KeyEncryptionKey
    clock: Clock
    urls: UrlBuilder
    auditor: Auditor
    authorities: Authorities
    catalog: Catalog
    applications: Applications
    issuance: Issuance
    inventory: Inventory
    revocation: Revocation
    crls: CRLPublisher
    ocsp: OCSPResponder
    est: EstCredentials  # EST settings, device credentials and authentication (one instance: it caches)
    scep: ScepService | None = None  # set in open(); None only for hand-built gateways
    owns_db: bool = True

    @classmethod
    async def open(cls, config: Config, *, clock: Clock | None = None, database: Database | None = None) -> "Gateway":
        clock = clock or SystemClock()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        kek, kek_source = load_kek(config)
        db = database or await Database.open(config.database_url)
        try:
            await verify_kek(db, kek, clock, kek_source)  # before anything could be wrapped under a wrong key
        except BaseException:
            if database is None:
                await db.close()
            raise
        urls = UrlBuilder(config.public_https_url, config.public_http_url)
        auditor = Auditor(clock)
        authorities = Authorities(db, kek, clock, urls, auditor)
        # Revocation tells the CRL publisher and the OCSP cache after each commit (both also poll the database,
        # for revocations made by other instances).
        issuers = Issuers(authorities)
        crls = CRLPublisher(db, clock, issuers, config.revocation)
        ocsp = OCSPResponder(db, clock, kek, issuers, config.revocation)
        revocation = Revocation(db, clock, auditor, authorities, issuers, listeners=(crls.revoked, ocsp.revoked))
        gateway = cls(
            config=config, db=db, kek=kek, clock=clock, urls=urls, auditor=auditor, authorities=authorities,
            catalog=Catalog(db, clock, auditor),
            applications=Applications(db, clock, auditor),
            issuance=Issuance(db, kek, clock, authorities, auditor, config.issuance),
            inventory=Inventory(db, kek, clock, auditor),
            revocation=revocation, crls=crls, ocsp=ocsp,
            est=EstCredentials(db, clock, auditor, authorities, config.est),
            owns_db=database is None,
        )
        gateway.scep = ScepService.of(gateway)
        return gateway

    async def close(self) -> None:
        await self.crls.stop()  # normally stopped already by the HTTP layer's cleanup_ctx
        if self.owns_db:  # a database handed in belongs to whoever opened it
            await self.db.close()


def load_kek(config: Config) -> tuple[KeyEncryptionKey, str]:
    """The key-encryption key and where it came from (for messages); StartupError if it is unusable."""
    if config.storage.kek:
        where = "storage.kek"
        try:
            return KeyEncryptionKey.from_base64(config.storage.kek), where
        except GatewayError as exc:
            raise StartupError(f"{where}: {exc.detail}") from None
    path = Path(config.storage.kek_file) if config.storage.kek_file else config.data_dir / "kek.key"
    try:
        return KeyEncryptionKey.load_or_create(path), str(path)
    except GatewayError as exc:
        raise StartupError(f"{path}: {exc.detail}") from None
