"""Degenerate certificates-only and CRLs-only PKCS#7 (RFC 8894 §3.4, RFC 5652 §5): SignedData without signers."""

from __future__ import annotations

from typing import Sequence

from asn1crypto import cms, crl
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7


def certificates_only(certs: Sequence[x509.Certificate]) -> bytes:
    """DER sorts the SET OF certificates, so clients tell the RA from the CA by key usage and basicConstraints
    (RFC 8894 §3.4), never by position; a CertRep's degenerate PKCS#7 holds the issued certificate alone."""
    return pkcs7.serialize_certificates(list(certs), Encoding.DER)


def crls_only(crl_der: bytes) -> bytes:
    """GetCRL's answer: cryptography writes certificates-only PKCS#7 but no CRLs-only one, so asn1crypto does."""
    return _signed_data(crls=[cms.RevocationInfoChoice({"crl": crl.CertificateList.load(crl_der)})])


def _signed_data(**parts) -> bytes:
    signed = cms.SignedData({"version": "v1", "digest_algorithms": [], "encap_content_info": {"content_type": "data"},
                             **parts, "signer_infos": []})
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
