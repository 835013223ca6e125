"""Fixtures for the revocation service tests: a core Gateway on each engine with a root, an intermediate, a
profile attached to two applications, and helpers to issue. Import the fixtures into a test module."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from enrollment_gateway.algorithms import KeyAlgorithm
from enrollment_gateway.config import load_config
from enrollment_gateway.core.bootstrap import create_admin
from enrollment_gateway.core.gateway import Gateway
from enrollment_gateway.core.issuance import IssuanceRequest
from enrollment_gateway.domain import Actor, Certificate, EnrollmentMethod, IdentityKind, ProfileDefaults, Role

ANY_DNS = {"san": {"DNS": {"allow": ["*.example.com"]}}, "max_ttl": "365d"}


def make_csr(name: str = "www.example.com") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def gateway_config(data_dir, **extra: str):
    return load_config(None, environ={
        "EG_STORAGE__DATA_DIR": str(data_dir),
        "EG_SERVER__PUBLIC_HTTP_URL": "http://pki.example.com",
        "EG_SERVER__PUBLIC_HTTPS_URL": "https://pki.example.com",
        "EG_REVOCATION__CRL_COALESCE_SECONDS": "0.05",
        **extra,
    })


@dataclass
class RevocationWorld:
    gateway: Gateway
    admin: Actor
    root_id: str
    issuing_id: str
    app_id: str
    endpoint_id: str
    other_app_id: str
    other_endpoint_id: str

    async def issue(self, name: str = "www.example.com", *, endpoint: str | None = None) -> Certificate:
        outcome = await self.gateway.issuance.issue(IssuanceRequest(
            actor=self.admin, endpoint_id=endpoint or self.endpoint_id, protocol=EnrollmentMethod.API,
            csr=make_csr(name)))
        return outcome.certificate

    async def member(self, role: Role, app_id: str | None = None) -> Actor:
        g = self.gateway
        issued = await g.applications.create_identity(
            self.admin, name=f"{role.value}-{app_id or self.app_id}", kind=IdentityKind.USER,
            application_id=app_id or self.app_id, role=role)
        return await g.applications.authenticate(issued.token)


async def build_world(gateway: Gateway) -> RevocationWorld:
    admin = await gateway.applications.authenticate((await create_admin(gateway)).token)
    root = await gateway.authorities.create_root(
        admin, name="root", subject=[("CN", "Test Root"), ("O", "Test")], key_algorithm=KeyAlgorithm.ECDSA_P256,
        path_length=1)
    issuing = await gateway.authorities.create_intermediate(
        admin, name="issuing", parent_id=root.id, subject=[("CN", "Test Issuing CA"), ("O", "Test")],
        key_algorithm=KeyAlgorithm.ECDSA_P256)
    policy = await gateway.catalog.create_policy(admin, name="web-policy", rules=ANY_DNS)
    profile = await gateway.catalog.create_profile(
        admin, name="web", ca_id=issuing.id, policy_id=policy.id, defaults=ProfileDefaults(),
        enrollment={"api": {}})
    app = await gateway.applications.create(admin, name="app")
    other = await gateway.applications.create(admin, name="other")
    endpoint = await gateway.applications.attach_profile(admin, app.id, profile.id)
    other_endpoint = await gateway.applications.attach_profile(admin, other.id, profile.id)
    return RevocationWorld(gateway, admin, root.id, issuing.id, app.id, endpoint.id, other.id, other_endpoint.id)


@pytest.fixture
async def world(database, tmp_path):
    gateway = await Gateway.open(gateway_config(tmp_path / "data"), database=database)
    try:
        yield await build_world(gateway)
    finally:
        await gateway.close()
