"""External Account Binding keys for ACME (RFC 8555 §7.3.4): issued per endpoint by its application's admins.

The MAC key must be kept to verify bindings, so it is stored wrapped with the KEK (bound to its endpoint and key
id), never hashed. A key is single-use (bound to the first account that presents it) or reusable (several
cert-manager clusters sharing one); revoking it stops new bindings, not the accounts already bound.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..crypto.kek import KeyEncryptionKey
from ..domain import Actor, Role
from ..errors import not_found
from ..storage.repositories.acme import AcmeRepository, EabKey
from .access import require_role
from .audit import Auditor
from .clock import Clock

HMAC_KEY_BYTES = 32  # HS256's block-size-independent sweet spot; what Boulder, ZeroSSL and step-ca hand out


@dataclass(frozen=True)
class IssuedEabKey:
    key: EabKey
    hmac_key: bytes  # shown once


def eab_aad(endpoint_id: str, kid: str) -> bytes:
    return f"acme-eab:{endpoint_id}:{kid}".encode()


class ExternalAccountKeys:
    def __init__(self, db, kek: KeyEncryptionKey, clock: Clock, auditor: Auditor) -> None:
        self._db, self._kek, self._clock, self._audit = db, kek, clock, auditor

    @classmethod
    def of(cls, gateway) -> "ExternalAccountKeys":
        return cls(gateway.db, gateway.kek, gateway.clock, gateway.auditor)

    async def _check_endpoint(self, tx, actor: Actor, application_id: str, endpoint_id: str) -> None:
        require_role(actor, application_id, Role.ADMIN)
        endpoint = await tx.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.application_id != application_id:
            raise not_found("endpoint")

    async def create(self, actor: Actor, application_id: str, endpoint_id: str, *, reusable: bool = False
                     ) -> IssuedEabKey:
        kid = "eab_" + secrets.token_urlsafe(18)
        mac_key = secrets.token_bytes(HMAC_KEY_BYTES)
        key = EabKey(kid, endpoint_id, self._kek.wrap(mac_key, eab_aad(endpoint_id, kid)), reusable,
                     self._clock.now(), actor.id)
        async with self._db.transaction() as tx:
            await self._check_endpoint(tx, actor, application_id, endpoint_id)
            await AcmeRepository.of(tx).add_eab_key(key)
            await self._audit.record(tx, actor, "acme.eab_key.created", "endpoint", endpoint_id,
                                     application_id=application_id, kid=kid, reusable=reusable)
        return IssuedEabKey(key, mac_key)

    async def list(self, actor: Actor, application_id: str, endpoint_id: str) -> list[EabKey]:
        async with self._db.transaction(readonly=True) as tx:
            await self._check_endpoint(tx, actor, application_id, endpoint_id)
            return await AcmeRepository.of(tx).eab_keys(endpoint_id)

    async def revoke(self, actor: Actor, application_id: str, endpoint_id: str, kid: str) -> None:
        async with self._db.transaction() as tx:
            await self._check_endpoint(tx, actor, application_id, endpoint_id)
            if not await AcmeRepository.of(tx).revoke_eab_key(kid, endpoint_id, self._clock.now()):
                raise not_found("external account key")
            await self._audit.record(tx, actor, "acme.eab_key.revoked", "endpoint", endpoint_id,
                                     application_id=application_id, kid=kid)

    async def mac_key(self, endpoint_id: str, kid: str) -> bytes | None:
        """The MAC key of a usable key id of this endpoint; None if unknown, revoked, or single-use and used."""
        async with self._db.transaction(readonly=True) as tx:
            key = await AcmeRepository.of(tx).eab_key(kid)
        if key is None or key.endpoint_id != endpoint_id or key.revoked_at is not None:
            return None
        if not key.reusable and key.used_at is not None:
            return None
        return self._kek.unwrap(key.hmac_key, eab_aad(endpoint_id, kid))
