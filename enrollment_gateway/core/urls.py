"""Every public URL the gateway hands out, built in one place from the configured base URLs."""

from __future__ import annotations

from dataclasses import dataclass

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
