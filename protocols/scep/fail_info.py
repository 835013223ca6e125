"""The gateway's error vocabulary as SCEP failInfo (RFC 8894 §3.2.1.4): the one mapping for this protocol.

badCertId is "no certificate could be identified": unknown transactions and certificates. badAlg is an
algorithm we do not speak. The envelope and signature failures (badMessageCheck) are decided before the core is
asked, in operations.py. Everything else the client may fix by sending another request is badRequest.
"""

from __future__ import annotations

from enrollment_gateway.errors import ErrorKind, GatewayError

from .pki_message import FailInfo

FAIL_INFO: dict[ErrorKind, FailInfo] = {
    ErrorKind.MALFORMED: FailInfo.badRequest,
    ErrorKind.UNAUTHENTICATED: FailInfo.badRequest,  # wrong challenge, renewal by a certificate that may not renew
    ErrorKind.FORBIDDEN: FailInfo.badRequest,  # SCEP disabled on the profile, request rejected by an admin
    ErrorKind.NOT_FOUND: FailInfo.badCertId,
    ErrorKind.CONFLICT: FailInfo.badRequest,  # transactionID reused with another key
    ErrorKind.REJECTED_IDENTIFIER: FailInfo.badRequest,
    ErrorKind.POLICY_VIOLATION: FailInfo.badRequest,
    ErrorKind.BAD_CSR: FailInfo.badRequest,
    ErrorKind.BAD_PUBLIC_KEY: FailInfo.badRequest,
    ErrorKind.BAD_SIGNATURE_ALGORITHM: FailInfo.badAlg,
    ErrorKind.ALREADY_REVOKED: FailInfo.badRequest,
    ErrorKind.BAD_REVOCATION_REASON: FailInfo.badRequest,
    ErrorKind.RATE_LIMITED: FailInfo.badRequest,
    ErrorKind.TOO_LARGE: FailInfo.badRequest,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: FailInfo.badRequest,
    ErrorKind.UNAVAILABLE: FailInfo.badRequest,
    ErrorKind.INTERNAL: FailInfo.badRequest,
}


def fail_info(err: GatewayError) -> FailInfo:
    return FAIL_INFO[err.kind]
