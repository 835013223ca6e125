"""revokeCert (RFC 8555 §7.6): signed by the account that ordered the certificate (or one holding valid
authorizations for all its names), or by the certificate's own key; the reason goes to the core's revocation."""

from __future__ import annotations

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from enrollment_gateway.crypto import names
from enrollment_gateway.errors import ErrorKind, GatewayError

from . import jws, problems
from .messages import RevocationPayload
from .wire import authenticate, state


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


async def revoke_cert(request: web.Request) -> web.Response:
    signed = await authenticate(request, expect="either")
    ctx, st = signed.ctx, state(request)
    payload = RevocationPayload.from_json(signed.payload())
    try:
        presented = x509.load_der_x509_certificate(payload.certificate)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        raise problems.malformed("'certificate' is not a DER X.509 certificate") from None
    requester = signed.account.id if signed.account else f"key:{jws.jwk_thumbprint(signed.jws.key)}"
    actor = ctx.actor(requester)
    try:
        cert = await st.gateway.inventory.find_by_serial(actor, ctx.profile.ca_id, presented.serial_number)
    except GatewayError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise problems.not_found("this server did not issue that certificate") from None
        raise
    stored = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    if stored.public_bytes(serialization.Encoding.DER) != payload.certificate:
        raise problems.not_found("this server did not issue that certificate")
    if signed.account is None:
        if _spki(jws._raw_key(signed.jws.key)) != _spki(stored.public_key()):
            raise problems.unauthorized("the JWS is signed neither by an account nor by the certificate's key")
    else:
        async with st.store.read() as repo:
            order = await repo.order_for_certificate(cert.id)
            owns = order is not None and order.account_id == signed.account.id
            if not owns:
                identifiers = [("ip" if t == "IP" else "dns", v) for t, v in map(names.parse_san, cert.sans)
                               if t in ("DNS", "IP")]
                owns = bool(identifiers) and await repo.holds_authorizations(
                    signed.account.id, identifiers, st.gateway.clock.now())
        if not owns:
            raise problems.unauthorized("this account may not revoke that certificate")
    await st.gateway.revocation.revoke_as_protocol(cert.id, payload.reason, actor)
    return web.Response(status=200)  # §7.6: success is 200 with an empty body
