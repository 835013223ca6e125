"""The one issuance entry point every protocol calls: check, approve or park, sign, store, audit.

Compare Boulder's `IssuanceRequest` and step-ca's `SignWithContext`: a protocol turns its wire message into an
`IssuanceRequest`; the answer is `Issued`, `Pending`, or a `GatewayError` carrying every policy violation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..algorithms import KeyAlgorithm, signature_algorithm_for
from ..config import IssuanceSettings
from ..crypto import builder, keys, names
from ..crypto.csr import ParsedCSR, parse_csr
from ..crypto.export import fingerprints, signature_algorithm_name
from ..crypto.kek import KeyEncryptionKey
from ..crypto.signer import LocalSigner
from ..domain import (Actor, Certificate, CertificateRequest, Endpoint, EnrollmentMethod, Policy, Profile,
                      RequestStatus, Role)
from ..errors import ErrorKind, GatewayError, conflict, malformed, not_found
from ..policy import Candidate, PolicyRules, evaluate
from .access import require_role, visible_applications
from .audit import Auditor
from .authorities import Authorities
from .clock import Clock
from .issuance_rules import (canonical_names, check_metadata, extension_requests, fit_to_issuer, judge,
                             managed_key_aad, refusal, requested_validity)


@dataclass(frozen=True)
class IssuanceRequest:
    """What any front end asks of the core. Exactly one of `csr` and `managed_key` is set."""

    actor: Actor
    endpoint_id: str
    protocol: EnrollmentMethod
    csr: bytes | str | None = None
    managed_key: KeyAlgorithm | None = None  # server-generated key of this algorithm (None with csr)
    subject: Sequence[tuple[str, str]] | None = None  # overrides the CSR's subject (required for managed keys)
    sans: Sequence[tuple[str, str]] | None = None  # overrides the CSR's SANs
    ttl_seconds: int | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    replaces_id: str | None = None  # the certificate this one renews


@dataclass(frozen=True)
class Issued:
    certificate: Certificate
    request: CertificateRequest


@dataclass(frozen=True)
class Pending:
    request: CertificateRequest


IssuanceOutcome = Issued | Pending


@dataclass(frozen=True)
class _Context:
    endpoint_id: str
    application_id: str
    profile: Profile
    rules: PolicyRules
    policy: Policy
    cached: bool = False  # taken from the cache: must be checked against the database before it decides anything

    def current(self, row: tuple[Endpoint, Profile, Policy] | None) -> bool:
        """Does the database still say what this context was built from?"""
        return row is not None and row[0].application_id == self.application_id and row[1:] == (self.profile,
                                                                                                  self.policy)


class _StaleContext(Exception):
    """The endpoint, profile or policy changed since the cached context was read: start over with fresh ones."""


_ATTEMPTS = 3  # a context found stale is re-read; changing three times during one issuance is a conflict
_CACHED_CONTEXTS = 4096  # endpoints; the cache is emptied when it grows past this


class Issuance:
    def __init__(self, db, kek: KeyEncryptionKey, clock: Clock, authorities: Authorities, auditor: Auditor,
                 settings: IssuanceSettings) -> None:
        self._db, self._kek, self._clock, self._cas, self._audit = db, kek, clock, authorities, auditor
        self._settings = settings
        # Endpoint -> its profile and policy, parsed. Reading them costs a transaction per issuance, so they are
        # kept, and every decision made on a cached copy is checked against the rows in the transaction that
        # records it (see _check_current): a change made through any instance is never missed.
        self._contexts: dict[str, _Context] = {}

    async def issue(self, req: IssuanceRequest) -> IssuanceOutcome:
        for attempt in range(_ATTEMPTS):
            ctx = await self._context(req.endpoint_id, fresh=attempt > 0)
            try:
                return await self._issue(req, ctx)
            except _StaleContext:
                continue
        raise conflict("the endpoint's profile or policy kept changing during issuance; try again")

    async def _issue(self, req: IssuanceRequest, ctx: _Context) -> IssuanceOutcome:
        try:
            require_role(req.actor, ctx.application_id, Role.OPERATOR)
            if not ctx.profile.enabled(req.protocol):
                raise GatewayError(ErrorKind.FORBIDDEN,
                                   f"enrollment over {req.protocol.value} is not enabled for this profile")
            check_metadata(req.metadata)
            if req.replaces_id is not None:
                await self._check_replaces(req.replaces_id, ctx.application_id)
            request, parsed = self._request_record(req, ctx)
            if ctx.profile.approval_required and not req.actor.bypass_approval:
                # Check the policy now, so a request that can never be approved is refused at once.
                await self._prepare(request, ctx, parsed)
                async with self._db.transaction() as tx:
                    await _check_current(tx, ctx)
                    await tx.requests.add(request)
                    await self._audit.record(tx, req.actor, "request.submitted", "request", request.id,
                                             application_id=ctx.application_id, profile_id=ctx.profile.id,
                                             protocol=req.protocol.value, outcome="pending")
                return Pending(request)
            return await self._sign_and_store(request, ctx, req.actor, new_request=True, parsed=parsed)
        except GatewayError as err:
            if ctx.cached and not await self._still_current(ctx):
                raise _StaleContext() from err  # refused on outdated rules: decide again on the current ones
            await self._audit.record_alone(self._db, req.actor, "request.refused", "endpoint", req.endpoint_id,
                                           application_id=ctx.application_id, outcome="refused",
                                           reason=err.detail, protocol=req.protocol.value,
                                           violations=[v.message for v in err.subproblems] or None)
            raise

    async def precheck(self, req: IssuanceRequest) -> None:
        """Check only, before any key exists: would the policy certify `req.sans` for `req`'s validity?

        For protocols that learn the names before the CSR (ACME newOrder, RFC 8555 §7.4 "refuse early"). Evaluates
        the SAN rules and the lifetime; subject, key and signature rules wait for `issue`, which checks everything
        again. Nothing is stored or audited; raises the same GatewayError `issue` would for these parts.
        """
        ctx = await self._context(req.endpoint_id)
        require_role(req.actor, ctx.application_id, Role.OPERATOR)
        if not ctx.profile.enabled(req.protocol):
            raise GatewayError(ErrorKind.FORBIDDEN, f"enrollment over {req.protocol.value} is not enabled for this profile")
        if req.replaces_id is not None:
            await self._check_replaces(req.replaces_id, ctx.application_id)
        request, _ = self._request_record(replace(req, csr=None, managed_key=None), ctx)
        not_before, not_after, forward = self._validity(request, ctx, self._clock.now())
        _, sans, violations = canonical_names((), tuple(names.parse_san(s) for s in request.sans))
        names_only = replace(ctx.rules, subject={}, key_algorithms=None, signature_algorithms=None, key_usages=None,
                             extended_key_usages=None, common_name_in_sans=False)
        candidate = Candidate(
            subject=(), sans=sans, key_algorithm="", signature_algorithm=None, key_usages=(), extended_key_usages=(),
            ttl_seconds=int((not_after - not_before).total_seconds()) - self._settings.backdate_seconds,
            forward_dating_seconds=forward)
        violations += evaluate(names_only, candidate)
        if ctx.profile.ca_id is not None:
            ca_end = (await self._cas.load(ctx.profile.ca_id)).certificate.not_valid_after_utc
            _, late = fit_to_issuer(not_before, not_after, ca_end, ctx.profile.defaults.not_after_behavior)
            violations += [late] if late else []
        if violations:
            raise refusal(violations)

    async def approve(self, actor: Actor, request_id: str) -> Issued:
        request, ctx = await self._pending(actor, request_id)
        try:
            return await self._sign_and_store(replace(request, decided_by=actor.id, decided_at=self._clock.now()),
                                              ctx, actor, new_request=False)
        except GatewayError as err:
            failed = replace(request, status=RequestStatus.FAILED, reason=err.detail, decided_by=actor.id,
                             decided_at=self._clock.now())
            async with self._db.transaction() as tx:
                await tx.requests.update(failed)
                await self._audit.record(tx, actor, "request.approved", "request", request_id,
                                         application_id=ctx.application_id, outcome="failure", reason=err.detail)
            raise

    async def reject(self, actor: Actor, request_id: str, reason: str = "") -> CertificateRequest:
        request, ctx = await self._pending(actor, request_id)
        rejected = replace(request, status=RequestStatus.REJECTED, reason=reason or "rejected by an administrator",
                           decided_by=actor.id, decided_at=self._clock.now())
        async with self._db.transaction() as tx:
            await tx.requests.update(rejected)
            await self._audit.record(tx, actor, "request.rejected", "request", request_id,
                                     application_id=ctx.application_id, reason=reason or None)
        return rejected

    async def get_request(self, actor: Actor, request_id: str) -> CertificateRequest:
        async with self._db.transaction(readonly=True) as tx:
            request = await tx.requests.get(request_id)
        if request is None or actor.role_in(request.application_id) is None:
            raise not_found("request")
        return request

    async def list_requests(self, actor: Actor, *, application_id: str | None = None,
                            status: RequestStatus | None = None, limit: int = 50, offset: int = 0):
        if not (1 <= limit <= 1000 and 0 <= offset <= 1 << 31):
            raise malformed("limit must be between 1 and 1000 and offset between 0 and 2^31")
        if application_id is not None:
            require_role(actor, application_id, Role.AUDITOR)
            scope = (application_id,)
        else:
            scope = visible_applications(actor)
        async with self._db.transaction(readonly=True) as tx:
            return await tx.requests.list(scope, status, limit, offset)

    # --- the work ------------------------------------------------------------------------------------------------

    async def _context(self, endpoint_id: str, *, fresh: bool = False) -> _Context:
        """The endpoint's application, profile and parsed policy; from the cache unless `fresh`."""
        cached = None if fresh else self._contexts.get(endpoint_id)
        if cached is not None:
            return cached
        async with self._db.transaction(readonly=True) as tx:
            row = await tx.endpoints.issuance_context(endpoint_id)
        if row is None:
            self._contexts.pop(endpoint_id, None)
            raise not_found("endpoint")
        endpoint, profile, policy = row
        ctx = _Context(endpoint.id, endpoint.application_id, profile, PolicyRules.from_json(policy.rules), policy)
        if len(self._contexts) >= _CACHED_CONTEXTS:
            self._contexts.clear()
        self._contexts[endpoint_id] = replace(ctx, cached=True)
        return ctx

    async def _still_current(self, ctx: _Context) -> bool:
        async with self._db.transaction(readonly=True) as tx:
            return ctx.current(await tx.endpoints.issuance_context(ctx.endpoint_id))

    async def _pending(self, actor: Actor, request_id: str) -> tuple[CertificateRequest, _Context]:
        async with self._db.transaction() as tx:
            request = await tx.requests.get(request_id)
        if request is None or actor.role_in(request.application_id) is None:
            raise not_found("request")
        require_role(actor, request.application_id, Role.ADMIN)
        if request.status is not RequestStatus.PENDING:
            raise conflict(f"the request is {request.status.value}, not pending")
        async with self._db.transaction() as tx:
            endpoint = await tx.endpoints.find(request.application_id, request.profile_id)
        if endpoint is None:
            raise conflict("the profile is no longer attached to the application")
        return request, await self._context(endpoint.id, fresh=True)  # a fresh context is never stale

    async def _check_replaces(self, certificate_id: str, application_id: str) -> None:
        """A renewal may only name a certificate of its own application, or renewal chains would leak across."""
        async with self._db.transaction(readonly=True) as tx:
            replaced = await tx.certificates.get(certificate_id)
        if replaced is None or replaced.application_id != application_id:
            raise not_found("replaced certificate")

    def _request_record(self, req: IssuanceRequest, ctx: _Context) -> tuple[CertificateRequest, ParsedCSR | None]:
        """The request row, and its CSR parsed and verified (None for a managed key) so _prepare need not redo it."""
        if req.csr is not None and req.managed_key is not None:
            raise malformed("give either a CSR or the algorithm of a server-generated key, not both")
        csr_pem, parsed = None, None
        if req.csr is not None:
            parsed = parse_csr(req.csr, self._settings.max_csr_bytes)
            csr_pem = parsed.csr.public_bytes(serialization.Encoding.PEM).decode()
        managed = None if req.csr is not None else (req.managed_key or ctx.profile.defaults.key_algorithm)
        return CertificateRequest(
            id=uuid.uuid4().hex, application_id=ctx.application_id, profile_id=ctx.profile.id,
            endpoint_id=ctx.endpoint_id, requester_id=req.actor.id, requester_name=req.actor.name,
            protocol=req.protocol.value, status=RequestStatus.PENDING, csr_pem=csr_pem,
            managed_key_algorithm=managed.value if managed else None,
            subject=names.build_name(req.subject).rfc4514_string() if req.subject is not None else None,
            sans=tuple(names.format_san(t, v) for t, v in req.sans) if req.sans is not None else (),
            ttl_seconds=req.ttl_seconds, not_before=req.not_before, not_after=req.not_after,
            metadata=dict(req.metadata), created_at=self._clock.now(), replaces_id=req.replaces_id,
        ), parsed

    async def _prepare(self, request: CertificateRequest, ctx: _Context, parsed: ParsedCSR | None = None) -> "_Plan":
        """Everything up to signing: the subject, names, key, validity; refuses with every violation found.

        `parsed` is request.csr_pem already parsed and verified; without it (a stored request) it is parsed here.
        """
        profile, now = ctx.profile, self._clock.now()
        if parsed is None and request.csr_pem:
            parsed = parse_csr(request.csr_pem)
        if parsed is None and request.subject is None and not request.sans:
            raise malformed("a server-generated key needs a subject or SANs")
        subject = (names.name_pairs(x509.Name.from_rfc4514_string(request.subject)) if request.subject is not None
                   else parsed.subject if parsed else ())
        sans = (tuple(names.parse_san(s) for s in request.sans) if request.sans or parsed is None
                else parsed.sans)
        key_algorithm = (parsed.key_algorithm if parsed else request.managed_key_algorithm)
        subject, sans, violations = canonical_names(subject, sans)
        not_before, not_after, forward = self._validity(request, ctx, now)
        ttl = int((not_after - not_before).total_seconds()) - self._settings.backdate_seconds
        extras: list = []
        if profile.ca_id is None:
            if parsed is not None:
                raise malformed("a self-signed profile issues only server-generated keys")
            sig_alg = signature_algorithm_for(KeyAlgorithm(key_algorithm), profile.defaults.hash_algorithm)
            loaded = None
        else:
            loaded = await self._cas.load(profile.ca_id)
            sig_alg = signature_algorithm_for(loaded.ca.key_algorithm,
                                              profile.defaults.hash_algorithm or loaded.ca.hash_algorithm)
            not_after, late = fit_to_issuer(not_before, not_after, loaded.certificate.not_valid_after_utc,
                                            profile.defaults.not_after_behavior)
            violations += [late] if late else []
        if parsed is not None:
            has_ocsp = loaded is not None and bool(self._cas.urls_for(loaded.ca.id).ocsp_url)
            extras, refused = extension_requests(parsed.extension_requests, profile.defaults, parsed.public_key,
                                                 has_ocsp)
            violations += refused
        candidate = Candidate(
            subject=subject, sans=sans, key_algorithm=key_algorithm, signature_algorithm=sig_alg.value,
            key_usages=tuple(profile.defaults.key_usages), extended_key_usages=tuple(profile.defaults.extended_key_usages),
            ttl_seconds=ttl, forward_dating_seconds=forward,
        )
        violations += judge(ctx.rules, profile.defaults, candidate)
        if parsed is not None and not violations:
            keys.key_algorithm_of(parsed.public_key)  # policy allowed it; still refuse keys we cannot certify
        if violations:
            raise refusal(violations)
        return _Plan(parsed, subject, sans, key_algorithm, not_before, not_after, loaded, tuple(extras))

    def _validity(self, request: CertificateRequest, ctx: _Context,
                  now: dt.datetime) -> tuple[dt.datetime, dt.datetime, int]:
        """(notBefore backdated against client clock skew, notAfter, forward dating); the TTL the policy sees
        excludes the backdate."""
        skew = self._settings.backdate_seconds
        not_before, not_after, forward = requested_validity(
            request.not_before, request.not_after, request.ttl_seconds, ctx.profile.defaults, ctx.rules, now, skew)
        return not_before - dt.timedelta(seconds=skew), not_after, forward

    async def _sign_and_store(self, request: CertificateRequest, ctx: _Context, actor: Actor, *,
                              new_request: bool, parsed: ParsedCSR | None = None) -> Issued:
        plan = await self._prepare(request, ctx, parsed)
        private_key = None
        if plan.parsed is not None:
            public_key = plan.parsed.public_key
        else:
            private_key = keys.generate_private_key(KeyAlgorithm(plan.key_algorithm))
            public_key = private_key.public_key()
        defaults = ctx.profile.defaults
        if plan.loaded is not None:
            signer, issuer, urls = plan.loaded.signer, plan.loaded.certificate, self._cas.urls_for(plan.loaded.ca.id)
            chain_pem = plan.loaded.chain_pem
        else:
            signer = LocalSigner(private_key, KeyAlgorithm(plan.key_algorithm), defaults.hash_algorithm)
            issuer, urls, chain_pem = None, None, ""
        cert = builder.build_certificate(
            signer=signer, issuer=issuer, public_key=public_key, subject=names.build_name(plan.subject),
            sans=plan.sans, serial=builder.random_serial(), not_before=plan.not_before, not_after=plan.not_after,
            key_usages=defaults.key_usages, extended_key_usages=defaults.extended_key_usages, is_ca=defaults.is_ca,
            urls=urls,
            extra_extensions=[*plan.extensions, *([(builder.certificate_policies(defaults.certificate_policies), False)]
                                                  if defaults.certificate_policies else [])],
        )
        record = _certificate_record(cert, request, ctx, plan, chain_pem, self._clock.now(), private_key is not None)
        blob = (self._kek.wrap(keys.private_key_to_pem(private_key), managed_key_aad(record.id))
                if private_key is not None else None)
        issued_request = replace(request, status=RequestStatus.ISSUED, certificate_id=record.id)
        async with self._db.transaction() as tx:
            await _check_current(tx, ctx)
            if plan.loaded is not None:  # disabled or revoked through any instance since it was loaded?
                await self._cas.check_still_active(tx, plan.loaded.ca.id)
            if new_request:
                await tx.requests.add(issued_request)
            else:
                await tx.requests.update(issued_request)
            await tx.certificates.add(record, blob)
            await self._audit.record(tx, actor, "certificate.issued", "certificate", record.id,
                                     application_id=ctx.application_id, serial=format(record.serial, "x"),
                                     profile_id=ctx.profile.id, protocol=request.protocol, request_id=request.id,
                                     approved=None if new_request else True)
        return Issued(record, issued_request)


@dataclass(frozen=True)
class _Plan:
    parsed: ParsedCSR | None
    subject: tuple[tuple[str, str], ...]
    sans: tuple[tuple[str, str], ...]
    key_algorithm: str
    not_before: dt.datetime
    not_after: dt.datetime
    loaded: object | None
    extensions: tuple = ()  # what the CSR asked for and the profile carries (extension_requests)


async def _check_current(tx, ctx: _Context) -> None:
    """In the transaction that records a decision made on a cached context: was that context still true?

    On SQLite the transaction holds the write lock, so no change can land between this read and the commit.
    """
    if ctx.cached and not ctx.current(await tx.endpoints.issuance_context(ctx.endpoint_id)):
        raise _StaleContext()


def _certificate_record(cert: x509.Certificate, request: CertificateRequest, ctx: _Context, plan: _Plan,
                        chain_pem: str, now: dt.datetime, managed: bool) -> Certificate:
    subject = cert.subject
    return Certificate(
        id=uuid.uuid4().hex, serial=cert.serial_number, ca_id=ctx.profile.ca_id, application_id=ctx.application_id,
        profile_id=ctx.profile.id, request_id=request.id, subject=subject.rfc4514_string(),
        common_name=names.common_name(subject), sans=tuple(names.format_san(t, v) for t, v in plan.sans),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc, key_algorithm=plan.key_algorithm,
        signature_algorithm=signature_algorithm_name(cert), fingerprint_sha256=fingerprints(cert)["sha256"],
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(), chain_pem=chain_pem,
        metadata=dict(request.metadata), created_at=now, has_managed_key=managed, replaces_id=request.replaces_id,
        is_ca=ctx.profile.defaults.is_ca,
    )
