"""First-start set-up: the first administrator, without whom nobody could call the API, and the check that this
process holds the key-encryption key the database's private keys are wrapped with."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..config import StartupError
from ..crypto.kek import KeyEncryptionKey
from ..domain import SYSTEM_ACTOR, IdentityKind
from ..errors import GatewayError
from ..storage.gateway_state import state_of
from .applications import IssuedToken
from .authorities import _ca_aad  # the binding of a CA's wrapped key to its row
from .clock import Clock

if TYPE_CHECKING:
    from ..storage import Database
    from .gateway import Gateway

KEK_CHECK = "kek_check"
_KEK_CHECK_AAD = b"gateway:kek-check"


async def create_admin(gateway: Gateway, name: str = "admin") -> IssuedToken:
    """A superadmin identity and its token (shown once)."""
    return await gateway.applications.create_identity(SYSTEM_ACTOR, name=name, kind=IdentityKind.USER, superadmin=True)


async def ensure_admin(gateway: Gateway, name: str) -> IssuedToken:
    """The superadmin called `name` with a fresh token: created once, its token rotated if it already exists
    (its old token cannot be read back: only a hash is stored), so set-up run again never adds a second one."""
    for identity in await gateway.applications.list_identities(SYSTEM_ACTOR):
        if identity.name == name and identity.superadmin and not identity.disabled:
            return await gateway.applications.rotate_token(SYSTEM_ACTOR, identity.id)
    return await create_admin(gateway, name)


async def verify_kek(db: Database, kek: KeyEncryptionKey, clock: Clock, where: str) -> None:
    """Refuse to start, before writing any key, if `kek` is not the key this database's keys are wrapped with.

    The first instance stores a check value wrapped under its key; every later one must unwrap it. A database
    from before the check existed is judged by its oldest CA key instead. `where` names the key's source for the
    message.
    """
    async with db.transaction(readonly=True) as tx:
        check = await state_of(tx).get(KEK_CHECK)
        oldest = None
        if check is None:
            cas = sorted(await tx.cas.list(), key=lambda ca: (ca.created_at, ca.id))
            oldest = (cas[0].id, await tx.cas.key_blob(cas[0].id)) if cas else None
    if check is None:
        if oldest is not None:
            _unwrap_or_refuse(kek, oldest[1], _ca_aad(oldest[0]), where)
        async with db.transaction() as tx:
            state = state_of(tx)
            if not await state.add_if_absent(KEK_CHECK, kek.wrap(os.urandom(32), _KEK_CHECK_AAD), clock.now()):
                check = await state.get(KEK_CHECK)  # another instance started at the same moment: agree with it
    if check is not None:
        _unwrap_or_refuse(kek, check, _KEK_CHECK_AAD, where)


def _unwrap_or_refuse(kek: KeyEncryptionKey, blob: bytes, aad: bytes, where: str) -> None:
    try:
        kek.unwrap(blob, aad)
    except GatewayError:
        raise StartupError(
            f"the key-encryption key from {where} is not the one this database's private keys are wrapped with; "
            "nothing was written. Give every instance on one database the same key: copy the first instance's "
            "kek.key, or set storage.kek (EG_STORAGE__KEK) to its contents") from None
