"""What SCEP (RFC 8894) asks of the core: enrol, renew, poll, fetch a certificate or the CRL, the CA certificates.

The SCEP front end has opened the envelope and checked the signature; this decides. Enrolment ends in the one
issuance entry point (`Issuance.issue`), like every other protocol. Around it:
- authorisation: a renewal is a request signed by a certificate this gateway issued, valid, not revoked, on the
  same endpoint and for the same subject (RenewalReq, or PKCSReq as Apple and Cisco send it); anything else needs
  the endpoint's challenge password (scep_challenges);
- idempotency (§3.3.1): the transactionID names one outcome; a re-sent PKCSReq gets it again, never a second
  certificate, and the same transactionID with another key is refused;
- CertPoll finds the request through its transaction, so an approval made later is returned.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import AttributeOID

from ..domain import Actor, Certificate, EnrollmentMethod, Profile, RequestStatus, Role
from ..errors import ErrorKind, GatewayError, not_found
from ..storage.repositories.scep import ScepRepository, ScepSettings, ScepTransaction
from .audit import Auditor
from .authorities import Authorities
from .clock import Clock
from .crl_publisher import CRLPublisher
from .issuance import Issuance, IssuanceRequest, Issued
from .scep_challenges import ChallengeCheck, ScepChallenges
from .scep_ra import RaCredential, RegistrationAuthorities


@dataclass(frozen=True)
class ScepIssued:
    certificate: Certificate


@dataclass(frozen=True)
class ScepPending:
    request_id: str | None


ScepOutcome = ScepIssued | ScepPending


@dataclass(frozen=True)
class Enrolment:
    """A PKCSReq or RenewalReq as the front end read it."""

    endpoint_id: str
    transaction_id: str
    csr_der: bytes
    signer: x509.Certificate  # the certificate that signed the pkiMessage
    renewal_only: bool  # RenewalReq: the signer must be a certificate of ours; no challenge
    source: str | None = None  # the client's address, for the audit trail
    challenge_blocked: bool = False  # too many wrong challenges from this source: only renewals get through


@dataclass(frozen=True)
class CACertificates:
    ra: x509.Certificate
    ca: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # above the CA, nearest first; the root last when include_root


ENDPOINT_CACHE_SECONDS = 5.0


def key_digest(public_key) -> str:
    return hashlib.sha256(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _unauthorised(detail: str) -> GatewayError:
    return GatewayError(ErrorKind.UNAUTHENTICATED, detail)


class ScepService:
    def __init__(self, db, clock: Clock, auditor: Auditor, authorities: Authorities, issuance: Issuance,
                 crls: CRLPublisher, ras: RegistrationAuthorities, challenges: ScepChallenges) -> None:
        self._db, self._clock, self._audit, self._cas = db, clock, auditor, authorities
        self._issuance, self._crls, self.ras, self.challenges = issuance, crls, ras, challenges
        self._endpoints: dict[str, tuple[float, tuple[str, Profile, ScepSettings | None]]] = {}

    @classmethod
    def of(cls, gateway) -> "ScepService":
        ras = RegistrationAuthorities(gateway.db, gateway.kek, gateway.clock, gateway.authorities, gateway.auditor)
        challenges = ScepChallenges(gateway.db, gateway.kek, gateway.clock, gateway.auditor)
        service = cls(gateway.db, gateway.clock, gateway.auditor, gateway.authorities, gateway.issuance, gateway.crls,
                   ras, challenges)
        challenges.changed = service.forget  # a settings change made here is seen here at once
        return service

    def forget(self, endpoint_id: str) -> None:
        self._endpoints.pop(endpoint_id, None)

    # --- the endpoint ------------------------------------------------------------------------------------------

    async def _endpoint(self, endpoint_id: str) -> tuple[str, Profile, ScepSettings | None]:
        """(application id, profile, settings) of a SCEP-enabled endpoint with a CA; NOT_FOUND otherwise.

        Cache: per process, ENDPOINT_CACHE_SECONDS per endpoint. Settings changed through this process's
        `challenges` apply here at once (`forget`); a change made on another instance (a new static challenge,
        another mode) or of the profile reaches this one within that time.
        Issuance itself re-reads the profile and policy in the transaction that records its decision.
        """
        cached = self._endpoints.get(endpoint_id)
        if cached is not None and time.monotonic() - cached[0] < ENDPOINT_CACHE_SECONDS:
            return cached[1]
        value = await self._read_endpoint(endpoint_id)
        if len(self._endpoints) >= 4096:
            self._endpoints.clear()
        self._endpoints[endpoint_id] = (time.monotonic(), value)
        return value

    async def _read_endpoint(self, endpoint_id: str) -> tuple[str, Profile, ScepSettings | None]:
        async with self._db.transaction(readonly=True) as tx:
            row = await tx.endpoints.issuance_context(endpoint_id)
            settings = await ScepRepository.of(tx).settings(endpoint_id) if row else None
        if row is None or not row[1].enabled(EnrollmentMethod.SCEP) or row[1].ca_id is None:
            raise not_found("SCEP endpoint")
        return row[0].application_id, row[1], settings

    async def ra_credentials(self, endpoint_id: str, *, refresh: bool = False) -> list[RaCredential]:
        _, profile, _ = await self._endpoint(endpoint_id)
        return await self.ras.credentials(endpoint_id, profile.ca_id, refresh=refresh)

    async def ca_certificates(self, endpoint_id: str) -> CACertificates:
        """GetCACert (§4.2): the RA, the issuing CA and, if the endpoint says so, the chain up to the root."""
        _, profile, settings = await self._endpoint(endpoint_id)
        current = (await self.ras.credentials(endpoint_id, profile.ca_id))[0]
        chain = current.ca.chain
        if not (settings and settings.include_root):
            chain = tuple(c for c in chain if c.issuer != c.subject)
        return CACertificates(current.certificate, current.ca.certificate, chain)

    def _actor(self, endpoint_id: str, application_id: str, name: str) -> Actor:
        return Actor(id=f"scep:{endpoint_id}", name=name[:200] or "scep client", roles={application_id: Role.OPERATOR},
                     via="scep")

    # --- PKCSReq / RenewalReq (§3.3.1) ---------------------------------------------------------------------------

    async def enrol(self, e: Enrolment) -> ScepOutcome:
        application_id, profile, settings = await self._endpoint(e.endpoint_id)
        try:
            csr = x509.load_der_x509_csr(e.csr_der)
            public_key = csr.public_key()
            digest = key_digest(public_key)
        except (ValueError, TypeError):
            raise GatewayError(ErrorKind.BAD_CSR, "the pkcsPKIEnvelope does not hold a PKCS#10 request") from None
        if not csr.is_signature_valid:
            raise GatewayError(ErrorKind.BAD_CSR, "the CSR's signature does not verify")

        replaces = await self._renewal_of(e, csr, application_id, profile)
        async with self._db.transaction(readonly=True) as tx:
            known = await ScepRepository.of(tx).transaction(e.endpoint_id, e.transaction_id)
        # A request signed by the certificate this transaction produced is not a re-send but its renewal (micromdm
        # and others derive the transactionID from the key, so a renewal with the same key reuses it).
        reopen = known is not None and replaces is not None and known.certificate_id == replaces
        if known is not None and not reopen:
            return await self._replay(known, digest)

        actor = self._actor(e.endpoint_id, application_id, csr.subject.rfc4514_string())
        challenge = None
        if replaces is None:
            if e.renewal_only:
                await self._refuse(actor, e, application_id, "a RenewalReq must be signed by a current certificate "
                                   "this endpoint issued for the same subject")
            if e.challenge_blocked:
                raise GatewayError(ErrorKind.RATE_LIMITED, "too many wrong challenge passwords from this address")
            challenge = _challenge_password(csr)
            check = ChallengeCheck(e.endpoint_id, challenge, e.csr_der, e.source)
            if not await self.challenges.validate(check, settings):
                async with self._db.transaction(readonly=True) as tx:  # a twin redeemed the one-time challenge?
                    known = await ScepRepository.of(tx).transaction(e.endpoint_id, e.transaction_id)
                if known is not None and known.key_digest == digest:
                    return await self._outcome(known)
                await self._refuse(actor, e, application_id, "wrong or missing challenge password", challenge=True)
            if settings is None or settings.challenge_mode != "one_time":
                challenge = None  # nothing to give back if the request is refused later

        claim = ScepTransaction(e.endpoint_id, e.transaction_id, digest, self._clock.now())

        async def record(tx, request, certificate) -> None:
            # In the transaction that stores the request: a twin request that got there first (same transactionID,
            # unique key) makes this one roll back whole, certificate included, so there is never a second one.
            settled = replace(claim, request_id=request.id, certificate_id=certificate.id if certificate else None)
            repo = ScepRepository.of(tx)
            if not reopen:
                await repo.claim_transaction(settled)
            elif not await repo.reopen_transaction(settled, replaces):
                raise GatewayError(ErrorKind.CONFLICT, "SCEP transaction already exists")

        try:
            outcome = await self._issuance.issue(IssuanceRequest(
                actor=actor, endpoint_id=e.endpoint_id, protocol=EnrollmentMethod.SCEP, csr=e.csr_der,
                replaces_id=replaces, metadata={"scep_transaction_id": e.transaction_id}, record=record))
        except GatewayError as err:
            await self.challenges.unredeem(e.endpoint_id, challenge)
            if err.kind is ErrorKind.CONFLICT:
                async with self._db.transaction(readonly=True) as tx:
                    known = await ScepRepository.of(tx).transaction(e.endpoint_id, e.transaction_id)
                if known is not None and not (reopen and known.certificate_id == replaces):
                    return await self._replay(known, digest)
            raise
        except BaseException:
            await self.challenges.unredeem(e.endpoint_id, challenge)
            raise
        if isinstance(outcome, Issued):
            return ScepIssued(outcome.certificate)
        return ScepPending(outcome.request.id)

    async def _refuse(self, actor: Actor, e: Enrolment, application_id: str, detail: str, *,
                      challenge: bool = False) -> None:
        await self._audit.record_alone(self._db, actor, "scep.enrolment.refused", "endpoint", e.endpoint_id,
                                       application_id=application_id, outcome="refused", reason=detail,
                                       source=e.source, transaction_id=e.transaction_id,
                                       wrong_challenge=True if challenge else None)
        raise _unauthorised(detail)

    async def _renewal_of(self, e: Enrolment, csr: x509.CertificateSigningRequest, application_id: str,
                          profile: Profile) -> str | None:
        """The id of the certificate this request renews, if its signer is one of ours that may renew here."""
        signer = e.signer
        if signer.issuer == signer.subject:
            return None  # a self-signed key carrier (§2.3): a new enrolment
        async with self._db.transaction(readonly=True) as tx:
            ours = await tx.certificates.get_by_serial(profile.ca_id, signer.serial_number)
        if ours is None or ours.fingerprint_sha256 != signer.fingerprint(SHA256()).hex():
            return None
        now = self._clock.now()
        if (ours.status_at(now).value != "active" or ours.not_before > now or ours.application_id != application_id
                or ours.profile_id != profile.id or signer.subject != csr.subject):
            return None  # RenewalReq: refused by the caller; PKCSReq: may still enrol with a challenge
        return ours.id

    async def _replay(self, known: ScepTransaction, digest: str) -> ScepOutcome:
        """The outcome already recorded for this transactionID (§3.3.1: same request, same answer)."""
        if known.key_digest != digest:
            raise GatewayError(ErrorKind.CONFLICT, "this transactionID was used with a different public key")
        return await self._outcome(known)

    async def _outcome(self, known: ScepTransaction) -> ScepOutcome:
        async with self._db.transaction(readonly=True) as tx:
            request = await tx.requests.get(known.request_id) if known.request_id else None
            cert_id = known.certificate_id or (request.certificate_id if request else None)
            certificate = await tx.certificates.get(cert_id) if cert_id else None
        if certificate is not None:
            return ScepIssued(certificate)
        if request is None or request.status is RequestStatus.PENDING:
            return ScepPending(known.request_id)
        raise GatewayError(ErrorKind.FORBIDDEN, request.reason or f"the request was {request.status.value}")

    # --- CertPoll (§3.3.3) ---------------------------------------------------------------------------------------

    async def poll(self, endpoint_id: str, transaction_id: str, signer: x509.Certificate) -> ScepOutcome:
        await self._endpoint(endpoint_id)
        async with self._db.transaction(readonly=True) as tx:
            known = await ScepRepository.of(tx).transaction(endpoint_id, transaction_id)
        # The poll is signed with the key that asked: anyone else learns nothing, not even that it exists.
        if known is None or known.key_digest != key_digest(signer.public_key()):
            raise not_found("SCEP transaction")
        return await self._outcome(known)

    # --- GetCert and GetCRL (§3.3.4, §3.3.5) ---------------------------------------------------------------------

    async def _ca_for(self, profile: Profile, issuer_der: bytes):
        ca = await self._cas.load_any(profile.ca_id)
        if ca.certificate.subject.public_bytes() != issuer_der:
            raise not_found("certificate")
        return ca

    async def get_cert(self, endpoint_id: str, issuer_der: bytes, serial: int, signer: x509.Certificate
                       ) -> Certificate:
        """Only the requester's own certificates: the same key as the signer's, or the signer is our certificate
        for the same subject on this endpoint."""
        application_id, profile, _ = await self._endpoint(endpoint_id)
        await self._ca_for(profile, issuer_der)
        async with self._db.transaction(readonly=True) as tx:
            wanted = await tx.certificates.get_by_serial(profile.ca_id, serial)
            signer_record = await tx.certificates.get_by_serial(profile.ca_id, signer.serial_number)
        if wanted is None or wanted.application_id != application_id or wanted.profile_id != profile.id:
            raise not_found("certificate")
        wanted_cert = x509.load_pem_x509_certificate(wanted.certificate_pem.encode())
        same_key = key_digest(wanted_cert.public_key()) == key_digest(signer.public_key())
        ours = (signer_record is not None and signer_record.fingerprint_sha256 == signer.fingerprint(SHA256()).hex()
                and signer_record.application_id == application_id and signer_record.profile_id == profile.id
                and signer_record.subject == wanted.subject)
        if not (same_key or ours):
            raise not_found("certificate")
        return wanted

    async def get_crl(self, endpoint_id: str, issuer_der: bytes) -> bytes:
        """The DER CRL of the endpoint's CA, named by the issuer of a certificate it issued."""
        _, profile, _ = await self._endpoint(endpoint_id)
        await self._ca_for(profile, issuer_der)
        return (await self._crls.current(profile.ca_id)).der


def _challenge_password(csr: x509.CertificateSigningRequest) -> str | None:
    try:
        value = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except (x509.AttributeNotFound, ValueError):
        return None
    try:
        return value.decode() if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        return None
