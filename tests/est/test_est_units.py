"""Pure pieces of EST, table-driven: body decoding (RFC 8951), settings validation, the failure limiter's window,
trusted proxy addresses."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from enrollment_gateway.core.est_credentials import FailureLimiter, source_allowed
from enrollment_gateway.core.est_settings import EstAuth, EstEndpointSettings
from enrollment_gateway.errors import ErrorKind, GatewayError
from protocols.est.wire import base64_lines, decode_pkcs10

from est_helpers import csr

DER = csr("unit")[0].public_bytes(Encoding.DER)


@pytest.mark.parametrize("body", [
    base64.b64encode(DER),  # one line
    base64.encodebytes(DER),  # 76-column lines, LF
    base64_lines(DER),  # 64-column lines, CRLF
    b"  " + base64.b64encode(DER) + b"\r\n",  # surrounding white space
    b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(DER) + b"-----END CERTIFICATE REQUEST-----\n",
], ids=["one-line", "lf-lines", "crlf-lines", "padded", "pem"])
def test_every_rfc8951_form_decodes_to_the_der(body: bytes) -> None:
    assert decode_pkcs10(body) == DER


@pytest.mark.parametrize("body,kind", [
    (b"", ErrorKind.MALFORMED),  # empty
    (b"%%% not base64 %%%", ErrorKind.MALFORMED),  # not base64
    (base64.b64encode(b"hello, world"), ErrorKind.BAD_CSR),  # base64, but not a DER SEQUENCE
], ids=["empty", "not-base64", "not-der"])
def test_undecodable_bodies(body: bytes, kind: ErrorKind) -> None:
    with pytest.raises(GatewayError) as err:
        decode_pkcs10(body)
    assert err.value.kind is kind


@pytest.mark.parametrize("change,problem", [
    ({"auth": "password"}, "auth must be one of"),  # unknown mode
    ({"reenroll": 1}, "reenroll must be true or false"),  # not a boolean
    ({"anchors_pem": 42}, "anchors_pem must be a string"),
    ({"anchors_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "not a PEM certificate"),
    ({"typo": True}, "unknown EST setting"),
])
def test_settings_are_strict(change: dict, problem: str) -> None:
    with pytest.raises(GatewayError) as err:
        EstEndpointSettings.from_json(change)
    assert err.value.kind is ErrorKind.MALFORMED and problem in err.value.detail


def test_settings_patch_keeps_what_is_not_named() -> None:
    base = EstEndpointSettings(auth=EstAuth.CERTIFICATE, serverkeygen=True)
    assert EstEndpointSettings.from_json({"reenroll": False}, base=base) == \
        EstEndpointSettings(auth=EstAuth.CERTIFICATE, serverkeygen=True, reenroll=False)


def test_failure_limiter_counts_within_its_window_only() -> None:
    now = [1000.0]
    limiter = FailureLimiter(2, 60, monotonic=lambda: now[0])
    limiter.failed("192.0.2.1")
    limiter.failed("192.0.2.1")
    with pytest.raises(GatewayError) as err:
        limiter.check("192.0.2.1")
    assert err.value.kind is ErrorKind.RATE_LIMITED and err.value.retry_after >= 1
    limiter.check("192.0.2.2")  # another address is not affected
    now[0] += 61
    limiter.check("192.0.2.1")  # the window has passed


@pytest.mark.parametrize("address,trusted,allowed", [
    ("127.0.0.1", (), False),  # nobody is trusted by default
    ("127.0.0.1", ("127.0.0.1",), True),
    ("10.1.2.3", ("10.0.0.0/8",), True),
    ("10.1.2.3", ("192.168.0.0/16", "not-an-address"), False),  # a bad entry is skipped, not fatal
    ("::1", ("::1/128",), True),
    (None, ("127.0.0.1",), False),
])
def test_trusted_proxy_addresses(address, trusted, allowed) -> None:
    assert source_allowed(address, trusted) is allowed
