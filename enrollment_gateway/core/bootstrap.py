"""First-start set-up: the first administrator, without whom nobody could call the API, and the check that this
process holds the key-encryption key the database's private keys are wrapped with."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from asyncpg import PostgresError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..config import Config, StartupError
from ..crypto.kek import KeyEncryptionKey
from ..domain import SYSTEM_ACTOR, IdentityKind
from ..errors import GatewayError
from ..storage.gateway_state import state_of
from ..storage.repositories import CertificateFilter
from .applications import IssuedToken
from .authorities import _ca_aad  # the binding of a CA's wrapped key to its row
from .clock import Clock
from .urls import stamped_http_bases

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
    from before the check existed is judged by its oldest wrapped CA key first, so an upgrade started with the
    wrong key cannot make its key the reference. `where` names the key's source for the message.
    """
    async with db.transaction(readonly=True) as tx:
        check = await state_of(tx).get(KEK_CHECK)
        oldest = None
        if check is None:
            for ca in sorted(await tx.cas.list(), key=lambda ca: (ca.created_at, ca.id)):
                blob = await tx.cas.key_blob(ca.id)
                if blob is not None and KeyEncryptionKey.is_wrapped(blob):  # rows made by hand judge nothing
                    oldest = (ca.id, blob)
                    break
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


async def open_gateway(config: Config) -> Gateway:
    """`Gateway.open` for the command line: a database or key that cannot be opened is a StartupError whose
    one-line message says which and why (never a traceback)."""
    from .gateway import Gateway

    try:
        return await Gateway.open(config)
    except StartupError:
        raise
    except (SQLAlchemyError, OSError, ValueError, PostgresError) as exc:
        raise StartupError(f"cannot open the database {_safe_url(config.database_url)}: {_reason(exc)}") from None


async def check_stamped_urls(gateway: Gateway) -> str | None:
    """Refuse (StartupError) when certificates already send relying parties to another plain-HTTP base than
    this process would serve, e.g. a CA made by `create-ca`, or leaves issued by a `serve`, with other ports. An explicit
    `server.public_http_url` is the operator's word: then the answer is a warning to print instead."""
    # CAs the gateway signed, and the newest certificate it issued (a root's leaves carry the URLs too).
    issued = [(f"CA {ca.name!r}", ca.parent_id, ca.certificate_pem) for ca in await gateway.authorities.list()
              if ca.parent_id and ca.certificate_pem]
    async with gateway.db.transaction(readonly=True) as tx:
        newest = await tx.certificates.list(CertificateFilter(now=gateway.clock.now()), limit=1)
    issued += [(f"certificate {c.id}", c.ca_id, c.certificate_pem) for c in newest if c.ca_id]
    stale = stamped_http_bases(issued, gateway.urls)
    if not stale:
        return None
    label, base = sorted(stale.items())[0]
    more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
    message = (f"{label}{more} has CRL/OCSP/CA-issuer URLs under {base} but this gateway publishes them at "
               f"{gateway.urls.http_base}")
    if gateway.config.server.public_http_url:
        return f"warning: {message}; relying parties following that CA's URLs will not reach this gateway"
    raise StartupError(f"{message}: start with the same --host/--http-port as before, or set "
                       f"server.public_http_url (EG_SERVER__PUBLIC_HTTP_URL) to the URL that reaches this listener")


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line only, without SQLAlchemy's wrapping."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else type(inner).__name__
