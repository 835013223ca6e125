"""Who may enrol over EST at an endpoint (RFC 7030 §3.2.3, §3.3.2): the endpoint's settings (est_settings.py)
as managed by admins, device Basic credentials, and the two ways a device proves itself (a password, a TLS
client certificate).

Settings and credentials are managed by the application's admins through the API; a device is authenticated
here and leaves as an `EstPrincipal` whose `Actor` holds the operator role in the endpoint's application only,
so the core's one issuance entry point treats it like any other requester.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from ..config import EstSettings
from ..crypto.secrets_util import hash_password, verify_password
from ..domain import Actor, Certificate, CertificateStatus, Endpoint, Role
from ..errors import ErrorKind, GatewayError, malformed, not_found
from ..storage.repositories.est import EstCredential, EstRepository
from .access import require_role
from .audit import Auditor
from .clock import Clock
from .est_settings import EstAuth, EstEndpointSettings, load_anchors

CACHE_SECONDS = 5.0  # how long an endpoint's EST settings and the CA certificates are reused (see EstCredentials)
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_PASSWORD_BYTES = 18  # 144 random bits, 24 URL-safe characters: typeable on a device console


@dataclass(frozen=True)
class IssuedCredential:
    credential: EstCredential
    password: str  # shown once


@dataclass(frozen=True)
class EstPrincipal:
    """An authenticated device at one endpoint."""

    actor: Actor
    endpoint: Endpoint
    settings: EstEndpointSettings
    methods: tuple[str, ...]  # "basic", "certificate"
    certificate: Certificate | None = None  # the gateway-issued certificate it presented, if any
    client_certificate: x509.Certificate | None = None
    approval_required: bool = True  # the profile parks requests for approval (as last read: see CACHE_SECONDS)


def est_actor(endpoint: Endpoint, principal_id: str, name: str) -> Actor:
    """A device as the core sees it: the endpoint itself authorises it to issue, in its application only."""
    return Actor(id=principal_id[:64], name=name[:200], roles={endpoint.application_id: Role.OPERATOR}, via="est")


class FailureLimiter:
    """Wrong Basic passwords per source address in a sliding window, in this process.

    Each instance counts what it receives (a load balancer spreading one attacker over N instances gives them N
    times the budget, acceptable for abuse control). Entries age out after the window; the table is bounded.
    """

    _MAX_TRACKED = 65536

    def __init__(self, allowed: int, window_seconds: int, monotonic=time.monotonic) -> None:
        self._allowed, self._window, self._monotonic = allowed, window_seconds, monotonic
        self._failures: dict[str, list[float]] = {}

    def _recent(self, source: str) -> list[float]:
        horizon = self._monotonic() - self._window
        kept = [t for t in self._failures.get(source, ()) if t > horizon]
        if kept:
            self._failures[source] = kept
        else:
            self._failures.pop(source, None)
        return kept

    def check(self, source: str) -> None:
        if self._allowed <= 0:
            return
        recent = self._recent(source)
        if len(recent) >= self._allowed:
            wait = max(1, int(recent[0] + self._window - self._monotonic()) + 1)
            raise GatewayError(ErrorKind.RATE_LIMITED,
                               f"too many wrong passwords from {source}; try again in {wait} seconds",
                               retry_after=wait)

    def failed(self, source: str) -> None:
        if len(self._failures) >= self._MAX_TRACKED and source not in self._failures:
            self._failures.clear()
        self._failures.setdefault(source, []).append(self._monotonic())


@dataclass(frozen=True)
class _Target:
    endpoint: Endpoint
    settings: EstEndpointSettings
    approval_required: bool
    expires: float  # monotonic


class EstCredentials:
    """EST endpoint settings and device authentication. One per gateway (it holds the caches and the limiter).

    Caches, each per process: an endpoint's EST settings and approval flag, and the CAs' certificates, are
    reused for CACHE_SECONDS. A change made through this process (update_settings) applies at once; one made on
    another instance reaches this one within CACHE_SECONDS. Credentials and the presented certificate's
    inventory record (its revocation) are read on every request, so revoking either applies at once everywhere.
    """

    def __init__(self, db, clock: Clock, auditor: Auditor, authorities, settings: EstSettings,
                 monotonic=time.monotonic) -> None:
        self._db, self._clock, self._audit, self._cas = db, clock, auditor, authorities
        self._monotonic = monotonic
        self._targets: dict[str, _Target] = {}
        self._ca_certificates: tuple[float, list[tuple[str, x509.Certificate]]] | None = None
        self._limiter = FailureLimiter(settings.basic_failures_allowed, settings.basic_failure_window_seconds)
        # (username, keyed digest of the password) -> the stored hash it was verified against. Saves the scrypt
        # (tens of ms) on every enrolment of a device that enrols often. The credential row is read on every
        # request, so a revoked or re-issued credential stops matching at once, on every instance.
        self._verified: dict[tuple[str, bytes], str] = {}
        self._cache_key = secrets.token_bytes(32)
        self._decoy_hash: str | None = None  # made on first need: scrypt is not free, and most gateways never need it

    @classmethod
    def of(cls, gateway) -> "EstCredentials":
        """The gateway's one instance (core/gateway.py), so its caches see the changes the API makes."""
        return gateway.est

    # --- admin ---------------------------------------------------------------------------------------------------

    async def _endpoint_of(self, tx, actor: Actor, application_id: str, endpoint_id: str, role: Role) -> Endpoint:
        require_role(actor, application_id, role)
        endpoint = await tx.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.application_id != application_id:
            raise not_found("endpoint")
        return endpoint

    async def settings(self, actor: Actor, application_id: str, endpoint_id: str) -> EstEndpointSettings:
        async with self._db.transaction(readonly=True) as tx:
            await self._endpoint_of(tx, actor, application_id, endpoint_id, Role.AUDITOR)
            return _settings(await EstRepository.of(tx).settings(endpoint_id))

    async def update_settings(self, actor: Actor, application_id: str, endpoint_id: str,
                              changes: Mapping[str, Any]) -> EstEndpointSettings:
        async with self._db.transaction() as tx:
            await self._endpoint_of(tx, actor, application_id, endpoint_id, Role.ADMIN)
            repo = EstRepository.of(tx)
            updated = EstEndpointSettings.from_json(changes, base=_settings(await repo.settings(endpoint_id)))
            await repo.put_settings(endpoint_id, updated.to_json(), self._clock.now())
            await self._audit.record(tx, actor, "est.settings.changed", "endpoint", endpoint_id,
                                     application_id=application_id, changed=sorted(changes))
        self._targets.pop(endpoint_id, None)
        return updated

    async def create_credential(self, actor: Actor, application_id: str, endpoint_id: str,
                                username: str | None = None) -> IssuedCredential:
        if username is not None and not _USERNAME.fullmatch(username):
            raise malformed("username: 1 to 64 of A-Z a-z 0-9 . _ @ -")
        username = username or f"est-{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(_PASSWORD_BYTES)
        cred = EstCredential(username, endpoint_id, hash_password(password), self._clock.now(), actor.id[:64])
        async with self._db.transaction() as tx:
            await self._endpoint_of(tx, actor, application_id, endpoint_id, Role.ADMIN)
            await EstRepository.of(tx).add_credential(cred)
            await self._audit.record(tx, actor, "est.credential.created", "endpoint", endpoint_id,
                                     application_id=application_id, username=username)
        return IssuedCredential(cred, password)

    async def credentials(self, actor: Actor, application_id: str, endpoint_id: str) -> list[EstCredential]:
        async with self._db.transaction(readonly=True) as tx:
            await self._endpoint_of(tx, actor, application_id, endpoint_id, Role.AUDITOR)
            return await EstRepository.of(tx).credentials(endpoint_id)

    async def revoke_credential(self, actor: Actor, application_id: str, endpoint_id: str, username: str) -> None:
        async with self._db.transaction() as tx:
            await self._endpoint_of(tx, actor, application_id, endpoint_id, Role.ADMIN)
            if not await EstRepository.of(tx).revoke_credential(username, endpoint_id, self._clock.now()):
                raise not_found("EST credential")
            await self._audit.record(tx, actor, "est.credential.revoked", "endpoint", endpoint_id,
                                     application_id=application_id, username=username)

    # --- devices -------------------------------------------------------------------------------------------------

    async def endpoint(self, endpoint_id: str) -> tuple[Endpoint, EstEndpointSettings]:
        """The endpoint a label names, with its EST settings; NOT_FOUND for an unknown label."""
        target = await self._target(endpoint_id)
        return target.endpoint, target.settings

    async def _target(self, endpoint_id: str) -> _Target:
        now = self._monotonic()
        target = self._targets.get(endpoint_id)
        if target is not None and target.expires > now:
            return target
        async with self._db.transaction(readonly=True) as tx:
            row = await tx.endpoints.issuance_context(endpoint_id)
            stored = await EstRepository.of(tx).settings(endpoint_id) if row is not None else None
        if row is None:
            self._targets.pop(endpoint_id, None)
            raise not_found("EST label")
        if len(self._targets) >= 4096:
            self._targets.clear()
        target = _Target(row[0], _settings(stored), row[1].approval_required, now + CACHE_SECONDS)
        self._targets[endpoint_id] = target
        return target

    async def authenticate(self, endpoint: Endpoint, settings: EstEndpointSettings, *,
                           basic: tuple[str, str] | None, client_certificate: x509.Certificate | None,
                           source: str, reenroll: bool = False) -> EstPrincipal:
        """Check what the device presented against the endpoint's settings (RFC 7030 §3.3.2).

        simplereenroll (`reenroll=True`) needs a live certificate this gateway issued under the endpoint
        (§4.2.2); a password alone never re-enrols. Failures are UNAUTHENTICATED (nothing acceptable was
        presented) or FORBIDDEN (a valid credential that may not do this), and are audited.
        """
        methods: list[str] = []
        actor: Actor | None = None
        issued: Certificate | None = None
        try:
            if basic is not None and settings.auth.accepts_basic:
                actor = await self._check_basic(endpoint, basic, source)
                methods.append("basic")
            if client_certificate is not None and (settings.auth.accepts_certificate or reenroll):
                cert_actor, issued = await self._check_certificate(endpoint, settings, client_certificate,
                                                                   reenroll=reenroll)
                actor = actor or cert_actor
                methods.append("certificate")
            if reenroll and issued is None:
                raise GatewayError(ErrorKind.UNAUTHENTICATED,
                                   "simplereenroll needs the current certificate as the TLS client certificate")
            if settings.auth is EstAuth.BASIC_AND_CERTIFICATE and set(methods) != {"basic", "certificate"}:
                raise GatewayError(ErrorKind.UNAUTHENTICATED,
                                   "this endpoint needs both a TLS client certificate and a username and password")
            if actor is None:
                raise GatewayError(ErrorKind.UNAUTHENTICATED, _missing(settings.auth))
        except GatewayError as err:
            if err.kind in (ErrorKind.UNAUTHENTICATED, ErrorKind.FORBIDDEN, ErrorKind.RATE_LIMITED):
                await self._audit.record_alone(
                    self._db, Actor(id="anonymous", name=source or "anonymous"), "est.auth.failed", "endpoint",
                    endpoint.id, application_id=endpoint.application_id, outcome="refused", reason=err.detail,
                    source=source, username=basic[0][:64] if basic else None)
            raise
        target = self._targets.get(endpoint.id)
        return EstPrincipal(actor, endpoint, settings, tuple(methods), issued, client_certificate,
                            approval_required=target.approval_required if target is not None else True)

    async def _check_basic(self, endpoint: Endpoint, basic: tuple[str, str], source: str) -> Actor:
        self._limiter.check(source)
        username, password = basic
        async with self._db.transaction(readonly=True) as tx:
            cred = await EstRepository.of(tx).credential(username) if _USERNAME.fullmatch(username) else None
        key = (username, hmac.digest(self._cache_key, password.encode("utf-8", "surrogatepass"), "sha256"))
        usable = cred is not None and cred.endpoint_id == endpoint.id and cred.revoked_at is None
        if usable and self._verified.get(key) == cred.password_hash:
            ok = True
        else:
            # scrypt costs tens of ms: off the event loop (hashlib releases the GIL). An unknown user pays it too,
            # so the answer's timing does not tell which usernames exist.
            if not usable and self._decoy_hash is None:
                self._decoy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
            stored = cred.password_hash if usable else self._decoy_hash
            ok = await asyncio.to_thread(verify_password, password, stored) and usable
        if not ok:
            self._limiter.failed(source)
            raise GatewayError(ErrorKind.UNAUTHENTICATED, "wrong username or password for this EST label")
        if len(self._verified) >= 4096:
            self._verified.clear()
        self._verified[key] = cred.password_hash
        return est_actor(endpoint, f"est:{username}", f"EST device {username}")

    async def _check_certificate(self, endpoint: Endpoint, settings: EstEndpointSettings, cert: x509.Certificate,
                                 *, reenroll: bool) -> tuple[Actor, Certificate | None]:
        """A gateway-issued certificate of this endpoint, or (not for re-enrolment) one under a manufacturer CA."""
        now = self._clock.now()
        issued = await self._issued_by_gateway(cert)
        fingerprint = cert.fingerprint(_SHA256).hex()
        if issued is not None:
            if issued.application_id != endpoint.application_id:
                raise GatewayError(ErrorKind.FORBIDDEN, "the TLS client certificate belongs to another application")
            status = issued.status_at(now)
            if status is CertificateStatus.REVOKED:
                raise GatewayError(ErrorKind.UNAUTHENTICATED, "the TLS client certificate is revoked")
            if status is CertificateStatus.EXPIRED or issued.not_before > now:
                raise GatewayError(ErrorKind.UNAUTHENTICATED, "the TLS client certificate is not within its validity")
            if issued.profile_id != endpoint.profile_id:
                raise GatewayError(ErrorKind.FORBIDDEN,
                                   "the TLS client certificate was issued under another EST label")
            if not reenroll and not settings.trust_gateway_certificates:
                raise GatewayError(ErrorKind.FORBIDDEN,
                                   "this endpoint does not accept its own certificates for simpleenroll")
            return est_actor(endpoint, f"est-cert:{issued.id}", f"EST device {issued.common_name or issued.id}"), \
                issued
        if reenroll:
            raise GatewayError(ErrorKind.UNAUTHENTICATED,
                               "simplereenroll needs a certificate this gateway issued; this one it did not")
        anchors = load_anchors(settings.anchors_pem)
        if not anchors:
            raise GatewayError(ErrorKind.UNAUTHENTICATED,
                               "the TLS client certificate was not issued by this gateway and the endpoint has no "
                               "manufacturer trust anchors")
        try:
            verifier = (PolicyBuilder().store(Store(list(anchors))).time(now.replace(tzinfo=None))
                        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY).build_client_verifier())
            verifier.verify(cert, [])
        except VerificationError as exc:
            raise GatewayError(ErrorKind.UNAUTHENTICATED,
                               f"the TLS client certificate does not chain to this endpoint's trust anchors: {exc}"
                               ) from None
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # a certificate the verifier cannot read
            raise GatewayError(ErrorKind.UNAUTHENTICATED,
                               f"the TLS client certificate cannot be verified: {exc}") from None
        return est_actor(endpoint, f"est-idevid:{fingerprint[:32]}",
                         f"EST device {cert.subject.rfc4514_string()[:150]}"), None

    async def _issued_by_gateway(self, cert: x509.Certificate) -> Certificate | None:
        """The inventory record of `cert` if one of our CAs signed it and we stored exactly this certificate."""
        for ca_id, ca_cert in await self._gateway_cas():
            if ca_cert.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca_cert)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                continue  # not signed by this CA, or with a key or algorithm we cannot check
            async with self._db.transaction(readonly=True) as tx:
                record = await tx.certificates.get_by_serial(ca_id, cert.serial_number)
            if record is not None and _der(record.certificate_pem) == cert.public_bytes(serialization.Encoding.DER):
                return record
        return None

    async def _gateway_cas(self) -> list[tuple[str, x509.Certificate]]:
        now = self._monotonic()
        if self._ca_certificates is None or self._ca_certificates[0] <= now:
            async with self._db.transaction(readonly=True) as tx:
                cas = await tx.cas.list()
            certs = [(ca.id, x509.load_pem_x509_certificate(ca.certificate_pem.encode()))
                     for ca in cas if ca.certificate_pem]
            self._ca_certificates = (now + CACHE_SECONDS, certs)
        return self._ca_certificates[1]


_SHA256 = hashes.SHA256()


def _client_auth_allowed(_policy, _cert, eku: x509.ExtendedKeyUsage | None) -> None:
    """An IDevID's extendedKeyUsage, when it has one, must allow TLS client authentication."""
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku and \
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
        raise ValueError("extendedKeyUsage does not allow clientAuth")


# Manufacturer CAs and IDevIDs (IEEE 802.1AR) rarely follow the Web PKI profile (no SAN, no keyUsage on old
# roots): path building, signatures, validity and basicConstraints are checked; extensions are not required.
_CA_POLICY = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
_EE_POLICY = ExtensionPolicy.permit_all().may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC,
                                                          _client_auth_allowed)


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def _settings(stored: Mapping[str, Any] | None) -> EstEndpointSettings:
    return EstEndpointSettings.from_json(stored) if stored else EstEndpointSettings()


def _missing(auth: EstAuth) -> str:
    return {
        EstAuth.BASIC: "a username and password are required",
        EstAuth.CERTIFICATE: "a TLS client certificate is required",
        EstAuth.BASIC_OR_CERTIFICATE: "a TLS client certificate or a username and password is required",
        EstAuth.BASIC_AND_CERTIFICATE: "a TLS client certificate and a username and password are required",
    }[auth]


def source_allowed(address: str | None, trusted: tuple[str, ...]) -> bool:
    """Is `address` one of the configured proxies (addresses or networks)?"""
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


__all__ = ["EstCredentials", "EstPrincipal", "FailureLimiter", "IssuedCredential", "est_actor", "source_allowed"]
