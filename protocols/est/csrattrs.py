"""/csrattrs (RFC 7030 §4.5, RFC 9908): what the endpoint's policy wants in a CSR, as a CsrAttrs SEQUENCE.

    CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
    AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }

Said in the forms RFC 7030's example and RFC 9908 §3 use, which every client that reads csrattrs understands:
- key types: `{ id-ecPublicKey, { <curve OID>, ... } }`, `{ rsaEncryption, { INTEGER <bits>, ... } }`, and bare
  OIDs for Ed25519 and ML-DSA;
- signature algorithms the policy allows, as bare OIDs (ecdsa-with-SHA384, ...);
- subject attributes the policy requires, as bare OIDs (commonName, ...), and subjectAltName when SANs are required;
- challengePassword when the endpoint requires proof-of-possession (§3.5).
Nothing to say (no constraints) is 204 No Content (§4.5.2). cryptography does not model CsrAttrs: asn1crypto does.
"""

from __future__ import annotations

from aiohttp import web
from asn1crypto import core
from cryptography.x509.oid import AttributeOID, ExtensionOID, PublicKeyAlgorithmOID, SignatureAlgorithmOID

from enrollment_gateway.algorithms import KeyAlgorithm, SignatureAlgorithm
from enrollment_gateway.crypto.names import ATTRIBUTE_OIDS
from enrollment_gateway.policy import PolicyRules

from .labels import endpoint_and_settings
from .wire import CSRATTRS, base64_response, state


class _Attribute(core.Sequence):
    _fields = [("type", core.ObjectIdentifier), ("values", core.SetOf, {"spec": core.Any})]


class AttrOrOID(core.Choice):
    _alternatives = [("oid", core.ObjectIdentifier), ("attribute", _Attribute)]


class CsrAttrs(core.SequenceOf):
    _child_spec = AttrOrOID


_CURVES = {
    KeyAlgorithm.ECDSA_P256: "1.2.840.10045.3.1.7",  # secp256r1
    KeyAlgorithm.ECDSA_P384: "1.3.132.0.34",
    KeyAlgorithm.ECDSA_P521: "1.3.132.0.35",
}
_RSA_BITS = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
_BARE_KEYS = {
    KeyAlgorithm.ED25519: PublicKeyAlgorithmOID.ED25519.dotted_string,
    KeyAlgorithm.ML_DSA_44: "2.16.840.1.101.3.4.3.17",
    KeyAlgorithm.ML_DSA_65: "2.16.840.1.101.3.4.3.18",
    KeyAlgorithm.ML_DSA_87: "2.16.840.1.101.3.4.3.19",
}
_SIGNATURES = {
    SignatureAlgorithm.RSA_SHA256: SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithm.RSA_SHA384: SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithm.RSA_SHA512: SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithm.ECDSA_SHA256: SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithm.ECDSA_SHA384: SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithm.ECDSA_SHA512: SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithm.ED25519: SignatureAlgorithmOID.ED25519,
}
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


def _oid(dotted: str) -> AttrOrOID:
    return AttrOrOID(name="oid", value=core.ObjectIdentifier(dotted))


def _attribute(dotted: str, values: list[core.Asn1Value]) -> AttrOrOID:
    return AttrOrOID(name="attribute", value=_Attribute({"type": dotted, "values": [core.Any(v) for v in values]}))


def csr_attributes(rules: PolicyRules, proof_of_possession: bool) -> list[AttrOrOID]:
    """The AttrOrOIDs that describe `rules` (empty when they constrain nothing a CSR carries)."""
    out: list[AttrOrOID] = []
    if proof_of_possession:
        out.append(_oid(AttributeOID.CHALLENGE_PASSWORD.dotted_string))
    if rules.key_algorithms is not None:
        curves = [core.ObjectIdentifier(_CURVES[k]) for k in rules.key_algorithms if k in _CURVES]
        if curves:
            out.append(_attribute(_EC_PUBLIC_KEY, curves))
        sizes = [core.Integer(_RSA_BITS[k]) for k in rules.key_algorithms if k in _RSA_BITS]
        if sizes:
            out.append(_attribute(_RSA_ENCRYPTION, sizes))
        out.extend(_oid(_BARE_KEYS[k]) for k in rules.key_algorithms if k in _BARE_KEYS)
    if rules.signature_algorithms is not None:
        out.extend(_oid(_SIGNATURES[s].dotted_string) for s in rules.signature_algorithms if s in _SIGNATURES)
    for name, rule in rules.subject.items():
        if rule.require is not None and name in ATTRIBUTE_OIDS:
            out.append(_oid(ATTRIBUTE_OIDS[name].dotted_string))
    if any(rule.require is not None for rule in rules.san.values()):
        out.append(_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string))
    return out


def encode(attributes: list[AttrOrOID]) -> bytes:
    return CsrAttrs(attributes).dump()


async def csrattrs(request: web.Request) -> web.Response:
    """GET, without authentication: a description of the policy, not a secret (RFC 7030 §4.5.1)."""
    endpoint, settings = await endpoint_and_settings(request)
    _, rules = await state(request).enrollment.requirements(endpoint.id)
    attributes = csr_attributes(rules, settings.proof_of_possession)
    if not attributes:
        return web.Response(status=204)
    return base64_response(encode(attributes), CSRATTRS)


__all__ = ["csrattrs", "csr_attributes", "encode", "CsrAttrs"]
