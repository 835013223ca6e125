"""Revocation: the one core operation every front end (API, ACME, EST, SCEP) calls to revoke a certificate.

RFC 5280 §5.3.1 reasons; certificateHold can be released (removeFromCRL semantics: the entry simply leaves the
next CRL and OCSP answers good again). Every revocation bumps its issuer's revocation generation in the shared
database in the same transaction, which is how other instances learn that cached OCSP answers are stale
(see ocsp_responder.py); local listeners (the CRL publisher, the OCSP cache) are told after the commit, and the
call returns once they have published (RFC 5280 §5 CRL and RFC 6960 answers that show the change).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from cryptography import x509

from ..crypto.signer import Signer
from ..domain import Actor, CAStatus, Certificate, CertificateAuthority, RevocationReason, Role
from ..errors import ErrorKind, GatewayError, conflict, malformed, not_found
from ..revocation.ocsp import issuer_hashes
from ..storage.repositories.revocation import CARevocation, RevocationRepository, generation_counter
from .access import require_role, require_superadmin
from .audit import Auditor
from .authorities import Authorities
from .clock import Clock

log = logging.getLogger("enrollment_gateway.revocation")

# How often every instance re-reads what other instances changed (OCSP: the revocation generations; CRLs: the
# newest stored number). A revocation call returns this long (plus a margin) after its commit, so by then every
# instance re-reads before its next answer: the change is published on all of them, not only on this one.
SHARED_STATE_SECONDS = 0.25
_PROPAGATION_MARGIN_SECONDS = 0.05

# Called with the issuer's CA id after a revocation or release commits; an awaitable result is awaited before the
# revocation call returns (the CRL publisher's, which returns once the new CRL is served).
Listener = Callable[[str], "Awaitable[None] | None"]

# The RFC 5280 names (as ACME, EST and the API spell them) and codes, beside the enum's own values.
_BY_NAME = {r.value: r for r in RevocationReason}
_BY_NAME.update({"".join(w.title() if i else w for i, w in enumerate(r.value.split("_"))): r
                 for r in RevocationReason})  # keyCompromise, cACompromise → see below
_BY_NAME["cACompromise"] = RevocationReason.CA_COMPROMISE
_BY_NAME["aACompromise"] = RevocationReason.AA_COMPROMISE


def parse_reason(value: RevocationReason | str | int | None) -> RevocationReason:
    """A reason from its enum value ("key_compromise"), RFC 5280 name ("keyCompromise") or code (1).

    None means unspecified. removeFromCRL (8) is not a reason one revokes with: release_hold is that operation.
    """
    if value is None:
        return RevocationReason.UNSPECIFIED
    if isinstance(value, RevocationReason):
        return value
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return RevocationReason.from_code(value)
        return _BY_NAME[value]
    except (ValueError, KeyError, TypeError):
        raise GatewayError(ErrorKind.BAD_REVOCATION_REASON, f"unknown revocation reason {value!r}; expected one of "
                           + ", ".join(r.value for r in RevocationReason)) from None


@dataclass(frozen=True)
class Issuer:
    """A CA as revocation needs it: record, signer and certificate, whatever the CA's status."""

    ca: CertificateAuthority
    signer: Signer
    certificate: x509.Certificate
    hashes: dict[str, tuple[bytes, bytes]]  # hash name -> (issuerNameHash, issuerKeyHash), RFC 6960 §4.1.1


class Issuers:
    """Signing material for CRLs and OCSP, from `Authorities.load_any`: disabled or revoked CAs too, because a CA
    that no longer issues still owes its relying parties status for what it issued.

    Cache: the CertID hashes per CA id. A CA's certificate never changes once set, so nothing needs to invalidate
    them; `forget` drops them with the signer when the CA's record changes on this instance.
    """

    def __init__(self, authorities: Authorities) -> None:
        self._authorities = authorities
        self._hashes: dict[str, dict[str, tuple[bytes, bytes]]] = {}

    async def get(self, ca_id: str) -> Issuer:
        """The CA as an issuer of status. NOT_FOUND for one we do not hold (or without certificate yet);
        UNAVAILABLE, logged, for one whose key or certificate cannot be used, so the caller can answer for it
        alone (tryLater, 503) and go on serving every other CA."""
        try:
            loaded = await self._authorities.load_any(ca_id)
            hashes = self._hashes.get(ca_id)
            if hashes is None:
                hashes = {name: issuer_hashes(loaded.certificate, name)
                          for name in ("sha1", "sha256", "sha384", "sha512")}
                self._hashes[ca_id] = hashes
        except GatewayError as err:
            if err.kind is ErrorKind.CONFLICT:  # still waiting for its certificate: nothing issued, nothing to say
                raise not_found("certificate authority") from None
            if err.kind is ErrorKind.NOT_FOUND:
                raise
            log.error("CA %s cannot sign revocation status: %s", ca_id, err.detail)
            raise GatewayError(ErrorKind.UNAVAILABLE, "this CA cannot sign revocation status now") from None
        except Exception:
            log.exception("CA %s cannot sign revocation status", ca_id)
            raise GatewayError(ErrorKind.UNAVAILABLE, "this CA cannot sign revocation status now") from None
        return Issuer(loaded.ca, loaded.signer, loaded.certificate, hashes)

    async def ids(self) -> list[str]:
        """The CAs that have a certificate (and so may sign CRLs and OCSP)."""
        return [ca.id for ca in await self._authorities.list() if ca.certificate_pem]

    async def by_hashes(self) -> dict[tuple[str, bytes, bytes], str]:
        """(CertID hash name, issuerNameHash, issuerKeyHash) -> CA id, for every CA with a certificate, read now.

        From the certificates alone, not the keys: a CA whose key cannot be used is still recognised, so its
        requests get tryLater while every other CA answers as usual.
        """
        index: dict[tuple[str, bytes, bytes], str] = {}
        for ca in await self._authorities.list():
            if not ca.certificate_pem:
                continue
            hashes = self._hashes.get(ca.id)
            if hashes is None:
                try:
                    cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
                    hashes = {name: issuer_hashes(cert, name) for name in ("sha1", "sha256", "sha384", "sha512")}
                except Exception:
                    log.exception("CA %s has an unreadable certificate", ca.id)
                    continue
                self._hashes[ca.id] = hashes
            for name, (name_hash, key_hash) in hashes.items():
                index[(name, name_hash, key_hash)] = ca.id
        return index

    def forget(self, ca_id: str) -> None:
        self._authorities.forget(ca_id)
        self._hashes.pop(ca_id, None)


class Revocation:
    def __init__(self, db, clock: Clock, auditor: Auditor, authorities: Authorities, issuers: Issuers,
                 listeners: Iterable[Listener] = ()) -> None:
        self._db, self._clock, self._audit, self._cas, self._issuers = db, clock, auditor, authorities, issuers
        self._listeners = list(listeners)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def revoke(self, actor: Actor, certificate_id: str, reason: RevocationReason | str | int | None,
                     invalidity_date: dt.datetime | None = None) -> Certificate:
        """Revoke a certificate of an application the actor operates (RFC 5280 §5.3.1 reason).

        NOT_FOUND for a certificate of another application, FORBIDDEN for an auditor, ALREADY_REVOKED unless it is
        on hold and now gets a final reason, BAD_REVOCATION_REASON for a reason that is not one.
        """
        return await self._revoke(actor, certificate_id, reason, invalidity_date, check_role=True)

    async def revoke_as_protocol(self, certificate_id: str, reason: RevocationReason | str | int | None,
                                 actor: Actor, invalidity_date: dt.datetime | None = None) -> Certificate:
        """The same revocation for a front end that has already authorized it by its own rules (ACME §7.6: the
        issuing account, or proof of the certificate's key; EST/SCEP: their client authentication). No application
        role is checked; `actor` (with `via` set to the protocol) is what the audit trail records."""
        return await self._revoke(actor, certificate_id, reason, invalidity_date, check_role=False)

    async def revoke_by_serial(self, actor: Actor, ca_id: str, serial: int,
                               reason: RevocationReason | str | int | None,
                               invalidity_date: dt.datetime | None = None) -> Certificate:
        async with self._db.transaction(readonly=True) as tx:
            cert = await tx.certificates.get_by_serial(ca_id, serial)
        if cert is None or actor.role_in(cert.application_id) is None:
            await self._refused(actor, "certificate", f"{ca_id}:{serial:x}", None, "certificate not found")
            raise not_found("certificate")
        return await self.revoke(actor, cert.id, reason, invalidity_date)

    async def release_hold(self, actor: Actor, certificate_id: str) -> Certificate:
        """Take a certificate off hold (removeFromCRL, RFC 5280 §5.3.1); CONFLICT unless it is on hold."""
        cert = await self._visible(actor, certificate_id)
        try:
            require_role(actor, cert.application_id, Role.OPERATOR)
            if cert.revocation_reason != RevocationReason.CERTIFICATE_HOLD.value:
                raise conflict("the certificate is not on hold" if cert.revoked_at is None
                               else "the certificate is revoked for good, not on hold")
            async with self._db.transaction() as tx:
                if not await tx.certificates.clear_revocation(cert.id):
                    raise conflict("the certificate is not on hold")
                await tx.counters.next_value(generation_counter(cert.ca_id or "self"))
                await self._audit.record(tx, actor, "certificate.hold_released", "certificate", cert.id,
                                         application_id=cert.application_id, serial=format(cert.serial, "x"),
                                         via=actor.via)
                released = await tx.certificates.get(cert.id)
        except GatewayError as err:
            await self._refused(actor, "certificate", cert.id, cert.application_id, err.detail,
                                action="certificate.hold_release_refused")
            raise
        await self._notify(cert.ca_id)
        return released

    async def revoke_ca(self, actor: Actor, ca_id: str, reason: RevocationReason | str | int | None,
                        invalidity_date: dt.datetime | None = None) -> CertificateAuthority:
        """Revoke an intermediate the gateway made under a parent it holds: it goes on the parent's CRL and OCSP,
        and the CA is disabled so it signs nothing more (it keeps publishing status for what it issued).

        Superadmins only. A root, or a CA whose issuer the gateway does not hold, cannot be revoked here: its
        revocation belongs on a CRL someone else signs. certificateHold is refused for CAs (BRs §7.2.2).
        """
        try:
            require_superadmin(actor)
            parsed = parse_reason(reason)
            if parsed is RevocationReason.CERTIFICATE_HOLD:
                raise GatewayError(ErrorKind.BAD_REVOCATION_REASON, "a CA certificate cannot be put on hold")
            ca = await self._cas.get(ca_id)
            if ca.parent_id is None or ca.certificate_pem is None:
                raise conflict("only an intermediate whose issuer the gateway holds can be revoked here")
            now = self._clock.now()
            _check_invalidity(invalidity_date, now)
            cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
            repo_record = CARevocation(ca.id, ca.parent_id, cert.serial_number, now, parsed.value, invalidity_date,
                                       cert.not_valid_after_utc)
            async with self._db.transaction(readonly=True) as tx:
                if await RevocationRepository.of(tx).ca_revocation(ca.id) is not None:
                    raise GatewayError(ErrorKind.ALREADY_REVOKED, "the CA certificate is already revoked")
            if ca.status is not CAStatus.DISABLED:
                ca = await self._cas.set_status(actor, ca.id, CAStatus.DISABLED)  # audited, signer cache dropped
            async with self._db.transaction() as tx:
                await RevocationRepository.of(tx).add_ca_revocation(repo_record)
                await tx.counters.next_value(generation_counter(ca.parent_id))
                await self._audit.record(tx, actor, "ca.revoked", "ca", ca.id, reason=parsed.value,
                                         serial=format(cert.serial_number, "x"), issuer_id=ca.parent_id)
        except GatewayError as err:
            if err.kind is ErrorKind.CONFLICT and "already exists" in err.detail:
                err = GatewayError(ErrorKind.ALREADY_REVOKED, "the CA certificate is already revoked")
            await self._refused(actor, "ca", ca_id, None, err.detail, action="ca.revoke_refused")
            raise err from None
        self._issuers.forget(ca.id)
        await self._notify(ca.parent_id)
        return ca

    # --- the work ------------------------------------------------------------------------------------------------

    async def _revoke(self, actor: Actor, certificate_id: str, reason, invalidity_date, *,
                      check_role: bool) -> Certificate:
        if check_role:
            cert = await self._visible(actor, certificate_id)
        else:
            async with self._db.transaction(readonly=True) as tx:
                cert = await tx.certificates.get(certificate_id)
            if cert is None:
                await self._refused(actor, "certificate", certificate_id, None, "certificate not found")
                raise not_found("certificate")
        try:
            if check_role:
                require_role(actor, cert.application_id, Role.OPERATOR)
            parsed = parse_reason(reason)
            now = self._clock.now()
            _check_invalidity(invalidity_date, now)
            on_hold = cert.revocation_reason == RevocationReason.CERTIFICATE_HOLD.value
            if cert.revoked_at is not None and (not on_hold or parsed is RevocationReason.CERTIFICATE_HOLD):
                raise GatewayError(ErrorKind.ALREADY_REVOKED, "the certificate is already revoked")
            if cert.not_after <= now:
                # Its status no longer matters to relying parties, and §3.3 lets it drop off the CRL anyway.
                raise conflict("the certificate has expired")
            async with self._db.transaction() as tx:
                if not await tx.certificates.mark_revoked(cert.id, now, parsed.value, invalidity_date):
                    raise GatewayError(ErrorKind.ALREADY_REVOKED, "the certificate is already revoked")
                # The database's triggers copy the entry to revoked_certificates, which CRLs and OCSP read and
                # which outlives the inventory row (storage/repositories/revocation.py, migration 0006).
                await tx.counters.next_value(generation_counter(cert.ca_id or "self"))
                await self._audit.record(tx, actor, "certificate.revoked", "certificate", cert.id,
                                         application_id=cert.application_id, serial=format(cert.serial, "x"),
                                         reason=parsed.value, via=actor.via, was_on_hold=on_hold or None,
                                         invalidity_date=invalidity_date.isoformat() if invalidity_date else None)
                revoked = await tx.certificates.get(cert.id)
        except GatewayError as err:
            await self._refused(actor, "certificate", cert.id, cert.application_id, err.detail)
            raise
        await self._notify(cert.ca_id)
        return revoked

    async def _visible(self, actor: Actor, certificate_id: str) -> Certificate:
        """The certificate, or NOT_FOUND when it does not exist or belongs to an application the actor is not in
        (so members of one application cannot probe another's, as in access.require_role)."""
        async with self._db.transaction(readonly=True) as tx:
            cert = await tx.certificates.get(certificate_id)
        if cert is None or actor.role_in(cert.application_id) is None:
            await self._refused(actor, "certificate", certificate_id, None, "certificate not found")
            raise not_found("certificate")
        return cert

    async def _refused(self, actor: Actor, object_type: str, object_id: str, application_id: str | None,
                       detail: str, *, action: str = "certificate.revoke_refused") -> None:
        await self._audit.record_alone(self._db, actor, action, object_type, object_id,
                                       application_id=application_id, outcome="refused", reason=detail,
                                       via=actor.via)

    async def _notify(self, issuer_id: str | None) -> None:
        """Tell every listener, then wait for those that publish: a revocation call returns only once OCSP
        answers and the CRL show it, here and on every other instance. Every listener is called before any is
        awaited, so the OCSP cache (instant) is never left stale while a large CRL builds. Other instances
        re-read shared state at most SHARED_STATE_SECONDS apart, counted from before their read; waiting that
        long after the commit means each one's next answer comes after a read that saw it."""
        if issuer_id is None:
            return  # self-signed: no CRL or OCSP speaks for it
        committed = time.monotonic()
        pending = [result for listener in self._listeners if inspect.isawaitable(result := listener(issuer_id))]
        for result in pending:
            await result
        remaining = committed + SHARED_STATE_SECONDS + _PROPAGATION_MARGIN_SECONDS - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)


def _check_invalidity(invalidity_date: dt.datetime | None, now: dt.datetime) -> None:
    if invalidity_date is None:
        return
    if invalidity_date.tzinfo is None:
        raise malformed("invalidity_date needs a time zone")
    if invalidity_date > now:
        raise malformed("invalidity_date may not lie in the future (RFC 5280 §5.3.2: when the key is known or "
                        "suspected to have been compromised)")
