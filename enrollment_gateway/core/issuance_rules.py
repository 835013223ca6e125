"""Rules issuance and the inventory share: metadata limits, the policy refusal, the binding of managed keys."""

from __future__ import annotations

from typing import Mapping

from ..errors import ErrorKind, GatewayError, Violation, malformed


def managed_key_aad(certificate_id: str) -> bytes:
    """Binds a wrapped key to its certificate, so a blob copied onto another row will not unwrap."""
    return f"leaf-key:{certificate_id}".encode()


def check_metadata(metadata: Mapping[str, str]) -> None:
    """Metadata stays small: it is indexed for filtering and travels with every listing."""
    if len(metadata) > 64:
        raise malformed("at most 64 metadata entries")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or len(key) > 128 or len(value) > 1024:
            raise malformed("metadata must map non-empty strings (keys up to 128, values up to 1024 characters)")


def refusal(violations: list[Violation]) -> GatewayError:
    """One error carrying every violation; its kind is the most specific one that covers them all."""
    kinds = {v.kind for v in violations}
    kind = (ErrorKind.REJECTED_IDENTIFIER if kinds == {ErrorKind.REJECTED_IDENTIFIER}
            else ErrorKind.BAD_PUBLIC_KEY if kinds == {ErrorKind.BAD_PUBLIC_KEY}
            else ErrorKind.POLICY_VIOLATION)
    detail = violations[0].message if len(violations) == 1 else f"{len(violations)} policy violations"
    return GatewayError(kind, f"request refused by policy: {detail}", tuple(violations))
