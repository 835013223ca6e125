"""Helpers for the API tests: a client wrapper, set-up shortcuts, and CSRs made by openssl and by hand."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator

from protocols.api import API_PREFIX

MAX_BODY = 64 * 1024  # the tests' server.max_body_bytes


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=30, check=False)


def openssl_csr(tmp: Path, cn: str, sans: str, *, key: str = "ec", name: str = "req") -> str:
    """A PEM CSR from `openssl req` with an ECDSA P-256 key (or RSA-2048 with key="rsa")."""
    keyopt = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else ["-newkey", "rsa:2048"]
    out = tmp / f"{name}.csr"
    result = openssl("req", "-new", *keyopt, "-nodes", "-keyout", str(tmp / f"{name}.key"), "-subj", f"/CN={cn}",
                     "-addext", f"subjectAltName={sans}", "-out", str(out))
    assert result.returncode == 0, result.stderr
    return out.read_text()


def verify_chain(tmp: Path, leaf_pem: str, chain_pem: str, root_pem: str) -> subprocess.CompletedProcess:
    """`openssl verify` of the leaf against the root, with the intermediates as untrusted."""
    (tmp / "leaf.pem").write_text(leaf_pem)
    (tmp / "chain.pem").write_text(chain_pem)
    (tmp / "root.pem").write_text(root_pem)
    return openssl("verify", "-CAfile", str(tmp / "root.pem"), "-untrusted", str(tmp / "chain.pem"),
                   str(tmp / "leaf.pem"))


def python_csr(cn: str, *, key=None, dns: tuple[str, ...] = ()) -> tuple[str, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def rsa1024_csr(cn: str) -> str:
    # cryptography still generates 1024-bit RSA keys (it refuses below 1024): just what a weak client sends.
    return python_csr(cn, key=rsa.generate_private_key(public_exponent=65537, key_size=1024), dns=(cn,))[0]


def broken_signature_csr(cn: str) -> str:
    """A well-formed CSR whose signature does not verify: one bit of the signature flipped."""
    pem, _ = python_csr(cn, dns=(cn,))
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the ECDSA signature's INTEGERs, well past the signed info
    body = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:500]!r})"


class Api:
    """Calls /api/v1 with a bearer token; `as_(token)` gives the same client under another identity."""

    def __init__(self, client, token: str | None) -> None:
        self.client, self.token = client, token

    def as_(self, token: str | None) -> "Api":
        return Api(self.client, token)

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   content_type: str | None = None, headers: dict | None = None, params: Any = None) -> Reply:
        h = dict(headers or {})
        if self.token is not None:
            h.setdefault("Authorization", f"Bearer {self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            content_type = content_type or "application/json"
        if content_type:
            h["Content-Type"] = content_type
        async with self.client.request(method, API_PREFIX + path, data=data, headers=h, params=params) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, **kw) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw) -> Reply:
        return await self.call("POST", path, body, **kw)

    async def patch(self, path: str, body: Any = None, **kw) -> Reply:
        return await self.call("PATCH", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw) -> Reply:
        return await self.call("PUT", path, body, **kw)

    async def delete(self, path: str, **kw) -> Reply:
        return await self.call("DELETE", path, **kw)

    async def ok(self, method: str, path: str, body: Any = None, status: int | tuple = (200, 201), **kw) -> Any:
        """Call and insist on success; returns the JSON body (or the reply for non-JSON answers)."""
        reply = await self.call(method, path, body, **kw)
        expected = status if isinstance(status, tuple) else (status,)
        assert reply.status in expected, reply
        if reply.headers.get("Content-Type", "").startswith("application/json"):
            return reply.json
        return reply


@dataclass
class Pki:
    """Root and issuing CA, a tls_server policy and profile, application "app-a" with the profile attached."""

    root_id: str
    issuing_id: str
    policy_id: str
    profile_id: str
    app_id: str
    endpoint_id: str


async def make_profile(api: Api, name: str, ca_id: str, *, policy_id: str | None = None, **fields) -> dict:
    if policy_id is None:
        policy_id = (await api.ok("POST", "/policies", {"name": f"{name}-policy", "preset": "tls_server"}))["id"]
    body = {"name": name, "ca_id": ca_id, "policy_id": policy_id, "preset": "tls_server",
            "enrollment": {"api": {}, "acme": {}}, **fields}
    return await api.ok("POST", "/profiles", body, status=201)


async def make_app(api: Api, name: str, profile_id: str) -> tuple[str, str]:
    app = await api.ok("POST", "/applications", {"name": name}, status=201)
    endpoint = await api.ok("POST", f"/applications/{app['id']}/endpoints", {"profile_id": profile_id}, status=201)
    return app["id"], endpoint["id"]


async def new_member(api: Api, app_id: str, role: str, name: str | None = None, **extra) -> str:
    """A machine identity with `role` in the application; returns its token."""
    reply = await api.ok("POST", f"/applications/{app_id}/machine-identities",
                         {"name": name or f"{role}-{app_id[:6]}", "role": role, **extra}, status=201)
    return reply["token"]


# --- the OpenAPI document as a test oracle ----------------------------------------------------------------------


def schema_validator(document: dict, schema: dict) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) that resolves #/components/... in `document`."""
    return Draft202012Validator({**schema, "components": document["components"]})


def operation(document: dict, method: str, path: str) -> dict:
    """The operation whose path template matches the concrete `path` (ids are single segments)."""
    for template, ops in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path.split("?")[0]) and method in ops:
            return ops[method]
    raise AssertionError(f"no operation for {method} {path}")


def check_against_document(document: dict, method: str, path: str, reply) -> None:
    """The reply's status is documented for the operation, and its JSON body validates against that schema."""
    op = operation(document, method.lower(), path)
    response = op["responses"].get(str(reply.status))
    assert response is not None, f"{method} {path} answered {reply.status}, which the document does not list"
    content_type = reply.headers.get("Content-Type", "").split(";")[0]
    if "content" not in response:
        assert not reply.body
        return
    assert content_type in response["content"], (method, path, content_type)
    if content_type.endswith("json"):
        errors = list(schema_validator(document, response["content"][content_type]["schema"]).iter_errors(reply.json))
        assert not errors, (method, path, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]])
