"""Property: whatever bytes or text arrive as a CSR, the parser answers with a ParsedCSR or a clean GatewayError
(BAD_CSR, MALFORMED, or BAD_PUBLIC_KEY for a key type cryptography cannot load), never another exception; and what
it accepts, the core's name and extension rules read without another exception either (issue 7, item 13's kind).

Inputs: random bytes, random text, and real CSRs (ours and the openssl CLI's) mutated byte-wise, each also as PEM
and as headerless base64. Derandomised so the suite stays reproducible; the examples still cover every branch.
"""

from __future__ import annotations

import base64
import ipaddress

from crypto_helpers import DATA
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrollment_gateway.core.issuance_rules import canonical_names, extension_requests
from enrollment_gateway.crypto.csr import ParsedCSR, parse_csr
from enrollment_gateway.domain import ProfileDefaults
from enrollment_gateway.errors import ErrorKind, GatewayError

CLEAN = {ErrorKind.BAD_CSR, ErrorKind.MALFORMED, ErrorKind.BAD_PUBLIC_KEY}
FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _seed(key, algorithm) -> bytes:
    b = (x509.CertificateSigningRequestBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WWW.Example.com"),
                                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fuzz")]))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com"), x509.DNSName("XN--bcher-kva.de"),
                                                     x509.IPAddress(ipaddress.ip_address("::1"))]),
                        critical=False)
         .add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
         .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True))
    return b.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


SEEDS = [
    _seed(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()),
    _seed(rsa.generate_private_key(public_exponent=65537, key_size=2048), hashes.SHA256()),
    _seed(ed25519.Ed25519PrivateKey.generate(), None),
    x509.load_pem_x509_csr((DATA / "openssl_req_device_p256.csr.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER),
]


@st.composite
def mutated_der(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "length"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if not data:
            break
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        else:  # a length byte set to something absurd: the classic DER parser trap
            data[at] = draw(st.sampled_from([0x80, 0x81, 0x84, 0x88, 0xFF]))
    return bytes(data)


def wrappings(der: bytes) -> st.SearchStrategy[bytes | str]:
    b64 = base64.b64encode(der)
    return st.sampled_from([
        der,
        b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE REQUEST-----\n",
        b64,
        b64.decode(),
        "-----BEGIN NEW CERTIFICATE REQUEST-----\n" + b64.decode() + "\n-----END NEW CERTIFICATE REQUEST-----",
    ])


def check(data: bytes | str) -> None:
    try:
        parsed = parse_csr(data)
    except GatewayError as err:
        assert err.kind in CLEAN, err
        return
    assert isinstance(parsed, ParsedCSR)
    # What parses is read by the core's rules; each may refuse, none may crash.
    try:
        canonical_names(parsed.subject, parsed.sans)
        extension_requests(parsed.extension_requests, ProfileDefaults(), parsed.public_key, True)
    except GatewayError:
        pass


@FUZZ
@given(mutated_der().flatmap(wrappings))
def test_mutated_csrs_fail_cleanly(data):
    check(data)


@FUZZ
@given(st.one_of(st.binary(max_size=2048), st.binary(max_size=512).map(lambda b: b"\x30" + b),
                 st.text(max_size=512), st.binary(max_size=512).flatmap(wrappings)))
def test_random_input_fails_cleanly(data):
    check(data)


def test_seeds_parse():
    # The mutations start from CSRs that parse, so a failure above is the mutation's doing.
    for der in SEEDS:
        assert parse_csr(der).sans
