"""Every public URL the gateway hands out, built in one place from the configured base URLs.

The bases come from `Config.public_https_url` / `public_http_url` only (explicit, or derived from the listen
address and ports). `stamped_http_bases` tells when CA certificates made earlier carry another base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from cryptography import x509

from ..domain import EnrollmentMethod, Profile


@dataclass(frozen=True)
class UrlBuilder:
    https_base: str  # API, ACME, EST
    http_base: str  # CRL, OCSP, CA certificates, SCEP: plain HTTP, as relying parties and SCEP clients expect

    def crl(self, ca_id: str) -> str:
        return f"{self.http_base}/crl/{ca_id}.crl"

    def ocsp(self, ca_id: str) -> str:
        return f"{self.http_base}/ocsp/{ca_id}"

    def ca_certificate(self, ca_id: str) -> str:
        return f"{self.http_base}/ca/{ca_id}.crt"

    def acme_directory(self, endpoint_id: str) -> str:
        return f"{self.https_base}/acme/{endpoint_id}/directory"

    def est_base(self, endpoint_id: str) -> str:
        return f"{self.https_base}/.well-known/est/{endpoint_id}"

    def scep(self, endpoint_id: str) -> str:
        return f"{self.http_base}/scep/{endpoint_id}/pkiclient.exe"

    def api_issue(self, endpoint_id: str) -> str:
        return f"{self.https_base}/api/v1/endpoints/{endpoint_id}/certificates"

    def endpoint_urls(self, endpoint_id: str, profile: Profile | None) -> dict[str, str]:
        """The URL of each enrollment method the endpoint's profile enables, and of no other (issue 7, item 25).

        `profile` None (it was deleted under the endpoint): no method is enabled, so no URL.
        """
        urls = {
            EnrollmentMethod.API: ("api", self.api_issue),
            EnrollmentMethod.ACME: ("acme_directory", self.acme_directory),
            EnrollmentMethod.EST: ("est", self.est_base),
            EnrollmentMethod.SCEP: ("scep", self.scep),
        }
        if profile is None:
            return {}
        return {key: build(endpoint_id) for method, (key, build) in urls.items() if profile.enabled(method)}


def stamped_http_bases(issued: Iterable[tuple[str, str, str]], urls: UrlBuilder) -> dict[str, str]:
    """For each (label, issuing CA id, certificate PEM) whose CRL/OCSP/CA-issuer URLs are not the ones `urls`
    would stamp (and serve) now: label → the plain-HTTP base the certificate sends relying parties to."""
    out: dict[str, str] = {}
    for label, issuer_id, pem in issued:
        ours = {urls.crl(issuer_id): f"/crl/{issuer_id}.crl", urls.ocsp(issuer_id): f"/ocsp/{issuer_id}",
                urls.ca_certificate(issuer_id): f"/ca/{issuer_id}.crt"}
        for url in _http_urls(x509.load_pem_x509_certificate(pem.encode())):
            if url in ours:
                continue
            suffix = next((s for s in ours.values() if url.endswith(s)), None)
            if suffix is not None:
                out[label] = url[: -len(suffix)]
                break
    return out


def _http_urls(cert: x509.Certificate) -> list[str]:
    found: list[str] = []
    for ext_class in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        try:
            ext = cert.extensions.get_extension_for_class(ext_class).value
        except x509.ExtensionNotFound:
            continue
        if ext_class is x509.CRLDistributionPoints:
            names = [n for dp in ext for n in (dp.full_name or ())]
        else:
            names = [d.access_location for d in ext]
        found += [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)]
    return found
