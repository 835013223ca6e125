"""Ask TLS clients for a certificate without requiring one, and without judging it during the handshake.

EST (RFC 7030 §3.3.2) authenticates devices by client certificate, but which certificates are trusted depends on
the endpoint the request names (its manufacturer CAs, the gateway's own CAs for re-enrolment), which the
handshake cannot know, and a refusal must be an HTTP status with a reason rather than a TLS alert. So the
listener requests a certificate (ACME and API clients without one are unaffected: CERT_OPTIONAL) and accepts
whatever chain comes, and core/est_credentials.py verifies it against the endpoint's anchors for every request.
The TLS handshake still proves the client holds the certificate's key (CertificateVerify is always checked).

Python's ssl module has no verify callback, so the one OpenSSL call it lacks, SSL_CTX_set_verify with a callback
that accepts, is made through ctypes on the context's SSL_CTX, after checking that the pointer really is the
context's (its verify mode and options must read back as Python set them). If anything does not match, the
listener does not ask for certificates and says so in the log: EST then authenticates with Basic (or a
configured TLS-terminating proxy's header) only.
"""

from __future__ import annotations

import ctypes
import logging
import ssl

log = logging.getLogger("enrollment_gateway.tls")

_SSL_VERIFY_PEER = 0x01
_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept(preverify_ok: int, store_ctx: int) -> int:  # noqa: ARG001 - OpenSSL's signature
    return 1


_ACCEPT = _VERIFY_CALLBACK(_accept)  # kept alive for the process: OpenSSL holds the pointer


def request_client_certificates(ctx: ssl.SSLContext) -> bool:
    """Make a server context ask for an optional client certificate, verified later per request. True if done."""
    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
        lib.SSL_CTX_set_verify.restype = None
        ctx.verify_mode = ssl.CERT_OPTIONAL
        # CPython's PySSLContext starts with PyObject_HEAD and then the SSL_CTX pointer.
        pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not pointer or lib.SSL_CTX_get_verify_mode(pointer) != _SSL_VERIFY_PEER \
                or lib.SSL_CTX_get_options(pointer) != int(ctx.options):
            raise RuntimeError("the SSLContext's layout is not the one expected")
        lib.SSL_CTX_set_verify(pointer, _SSL_VERIFY_PEER, _ACCEPT)
        return True
    except (OSError, AttributeError, RuntimeError, ValueError) as exc:
        ctx.verify_mode = ssl.CERT_NONE
        log.warning("TLS client certificates are not requested on this listener (%s); EST devices must use Basic "
                    "authentication or a TLS-terminating proxy's client certificate header", exc)
        return False
