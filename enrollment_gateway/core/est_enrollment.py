"""EST enrolment around the one issuance entry point (RFC 7030 §4.1-§4.5): what EST adds to an issuance.

- Re-enrolment (§4.2.2): the CSR names exactly the current certificate's subject and subjectAltName; the new
  certificate `replaces` it in the inventory, and the old one stays valid.
- Proof of possession (§3.5): the CSR's challengePassword is the TLS session's tls-unique, base64.
- Approval (§4.2.3): a request parked for approval is found again by its CSR, so the device's retry with the same
  CSR polls that request instead of opening a second one.
- Server-side key generation (§4.4): the gateway generates and keeps (wrapped) the key, the device gets it once.
It never signs, checks policy or reads profiles itself: `Issuance.issue` does all of that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..crypto.csr import ParsedCSR, parse_csr
from ..domain import EnrollmentMethod, RequestStatus
from ..errors import ErrorKind, GatewayError, not_found
from ..policy import PolicyRules
from ..storage.repositories.est import EstRepository
from .est_credentials import EstPrincipal
from .issuance import IssuanceRequest, Issued, Pending


@dataclass(frozen=True)
class ServerGeneratedKey:
    issued: Issued
    private_key: Any  # a cryptography private key


class EstEnrollment:
    def __init__(self, db, clock, issuance, inventory, max_csr_bytes: int) -> None:
        self._db, self._clock, self._issuance, self._inventory = db, clock, issuance, inventory
        self._max_csr = max_csr_bytes

    @classmethod
    def of(cls, gateway) -> "EstEnrollment":
        return cls(gateway.db, gateway.clock, gateway.issuance, gateway.inventory,
                   gateway.config.issuance.max_csr_bytes)

    # --- what a device may read ----------------------------------------------------------------------------------

    async def ca_certificates(self, endpoint_id: str) -> list[x509.Certificate]:
        """The endpoint's issuing CA and the chain above it, nearest first (RFC 7030 §4.1.3)."""
        async with self._db.transaction(readonly=True) as tx:
            row = await tx.endpoints.issuance_context(endpoint_id)
            ca = await tx.cas.get(row[1].ca_id) if row is not None and row[1].ca_id else None
        if row is None:
            raise not_found("EST label")
        if row[1].ca_id is None:
            raise GatewayError(ErrorKind.NOT_FOUND, "this endpoint issues self-signed certificates: it has no CA")
        if ca is None or ca.certificate_pem is None:
            raise GatewayError(ErrorKind.UNAVAILABLE, "the endpoint's CA is still waiting for its certificate",
                               retry_after=3600)
        return x509.load_pem_x509_certificates((ca.certificate_pem + ca.chain_pem).encode())

    async def requirements(self, endpoint_id: str):
        """The endpoint's profile and parsed policy rules, for csrattrs (RFC 9908) and cacerts."""
        async with self._db.transaction(readonly=True) as tx:
            row = await tx.endpoints.issuance_context(endpoint_id)
        if row is None:
            raise not_found("EST label")
        _, profile, policy = row
        return profile, PolicyRules.from_json(policy.rules)

    # --- enrolment -----------------------------------------------------------------------------------------------

    async def enroll(self, principal: EstPrincipal, csr_der: bytes, *, reenroll: bool = False,
                     tls_unique: bytes | None = None) -> Issued | Pending:
        """simpleenroll / simplereenroll: Issued, Pending, or the core's refusal (RFC 7030 §4.2).

        The CSR is parsed here only when EST itself must read it (re-enrolment, proof-of-possession); otherwise the
        core's one parse and verification is enough.
        """
        replaces = None
        if reenroll or principal.settings.proof_of_possession:
            parsed = self._checked(principal, csr_der, tls_unique)
            if reenroll:
                current = principal.certificate
                if current is None:  # EstCredentials.authenticate guarantees it; keep the invariant visible
                    raise GatewayError(ErrorKind.UNAUTHENTICATED, "simplereenroll needs the current certificate")
                check_same_identity(current.certificate_pem, parsed)
                replaces = current.id
        request = IssuanceRequest(actor=principal.actor, endpoint_id=principal.endpoint.id,
                                  protocol=EnrollmentMethod.EST, csr=csr_der, replaces_id=replaces,
                                  metadata=_metadata(principal, reenroll))
        return await self._issue_once(principal, csr_der, request)

    async def serverkeygen(self, principal: EstPrincipal, csr_der: bytes, *,
                           tls_unique: bytes | None = None) -> ServerGeneratedKey | Pending:
        """RFC 7030 §4.4: the CSR says who (subject, SANs); the gateway makes the key of the profile's algorithm."""
        if not principal.settings.serverkeygen:
            raise GatewayError(ErrorKind.FORBIDDEN, "server-side key generation is not enabled for this EST label")
        parsed = self._checked(principal, csr_der, tls_unique)
        request = IssuanceRequest(actor=principal.actor, endpoint_id=principal.endpoint.id,
                                  protocol=EnrollmentMethod.EST, subject=parsed.subject, sans=parsed.sans,
                                  metadata={**_metadata(principal, False), "est_serverkeygen": "true"})
        outcome = await self._issue_once(principal, parsed.der, request)
        if isinstance(outcome, Pending):
            return outcome
        pem = await self._inventory.export_pem(principal.actor, outcome.certificate.id, include_key=True,
                                               chain=False)
        key = serialization.load_pem_private_key(pem[pem.index("-----BEGIN PRIVATE KEY"):].encode(), None)
        return ServerGeneratedKey(outcome, key)

    def _checked(self, principal: EstPrincipal, csr_der: bytes, tls_unique: bytes | None) -> ParsedCSR:
        parsed = parse_csr(csr_der, self._max_csr)
        if principal.settings.proof_of_possession:
            check_proof_of_possession(parsed, tls_unique)
        return parsed

    async def _issue_once(self, principal: EstPrincipal, der: bytes, request: IssuanceRequest) -> Issued | Pending:
        """Issue, or answer from the request this same CSR already parked for approval."""
        digest = hashlib.sha256(der).hexdigest()
        endpoint_id = principal.endpoint.id
        if principal.approval_required:  # only such a profile parks requests: spare the others a read
            async with self._db.transaction(readonly=True) as tx:
                parked = await EstRepository.of(tx).parked_request(endpoint_id, digest)
            if parked is not None:
                return await self._parked_outcome(principal, parked)
        outcome = await self._issuance.issue(request)
        if isinstance(outcome, Pending):
            try:
                async with self._db.transaction() as tx:
                    await EstRepository.of(tx).park_request(endpoint_id, digest, outcome.request.id,
                                                            self._clock.now())
            except GatewayError as err:  # the same CSR parked at the same moment by a concurrent retry
                if err.kind is not ErrorKind.CONFLICT:
                    raise
        return outcome

    async def _parked_outcome(self, principal: EstPrincipal, request_id: str) -> Issued | Pending:
        request = await self._issuance.get_request(principal.actor, request_id)
        if request.status is RequestStatus.PENDING:
            return Pending(request)
        if request.status is RequestStatus.ISSUED and request.certificate_id:
            return Issued(await self._inventory.get(principal.actor, request.certificate_id), request)
        raise GatewayError(ErrorKind.FORBIDDEN, f"the request for this CSR was {request.status.value}: "
                                                f"{request.reason or 'no reason given'}")


def check_proof_of_possession(parsed: ParsedCSR, tls_unique: bytes | None) -> None:
    """RFC 7030 §3.5: challengePassword = base64(tls-unique). tls-unique exists only up to TLS 1.2 (RFC 9266)."""
    if tls_unique is None:
        raise GatewayError(ErrorKind.BAD_CSR, "this EST label requires proof-of-possession, which needs a direct "
                                              "TLS 1.2 connection (tls-unique does not exist in TLS 1.3)")
    expected = base64.b64encode(tls_unique).decode()
    if parsed.challenge_password is None:
        raise GatewayError(ErrorKind.BAD_CSR, "this EST label requires proof-of-possession: put the TLS session's "
                                              "tls-unique, base64, in the CSR's challengePassword")
    if not hmac.compare_digest(parsed.challenge_password.encode(), expected.encode()):
        raise GatewayError(ErrorKind.BAD_CSR, "the CSR's challengePassword is not this TLS session's tls-unique")


def check_same_identity(current_pem: str, parsed: ParsedCSR) -> None:
    """RFC 7030 §4.2.2: the re-enrolment CSR's subject and subjectAltName equal the current certificate's."""
    current = x509.load_pem_x509_certificate(current_pem.encode())
    problems = []
    if current.subject != parsed.csr.subject:
        problems.append(f"subject {parsed.csr.subject.rfc4514_string()!r} differs from the current certificate's "
                        f"{current.subject.rfc4514_string()!r}")
    try:
        have = set(current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        have = set()
    wanted = set(_csr_sans(parsed))
    if have != wanted:
        extra = ", ".join(sorted(str(n.value) for n in wanted - have))
        missing = ", ".join(sorted(str(n.value) for n in have - wanted))
        problems.append("subjectAltName differs from the current certificate's"
                        + (f"; not in it: {extra}" if extra else "") + (f"; missing: {missing}" if missing else ""))
    if problems:
        raise GatewayError(ErrorKind.FORBIDDEN, "simplereenroll must keep the identity: " + "; ".join(problems))


def _csr_sans(parsed: ParsedCSR) -> list[x509.GeneralName]:
    try:
        return list(parsed.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _metadata(principal: EstPrincipal, reenroll: bool) -> dict[str, str]:
    out = {"est_principal": principal.actor.id, "est_auth": "+".join(principal.methods)}
    if reenroll:
        out["est_reenroll"] = "true"
    return out


__all__ = ["EstEnrollment", "ServerGeneratedKey", "check_proof_of_possession", "check_same_identity"]
