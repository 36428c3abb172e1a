"""Test key material made on the spot: a private CA, a server certificate for 127.0.0.1 and
localhost signed by it, and JWT signing keys (RS256, ES256) with their public halves.

Nothing is checked in: every run makes its own, so no test depends on a key that expires or
leaks, and a test that trusts the CA proves verification really happened (the system trust
store does not know it).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.client import KeyTokens
from reference_server.launcher import RunningServer, start_server

__all__ = [
    "IdentityProvider",
    "JwtKeys",
    "TlsFiles",
    "make_jwt_keys",
    "make_pki",
    "serve_jwks",
    "tls_key_server",
]

_VALID_FOR = datetime.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: `ca` (trust this), `cert` + `key` (the server's), `other_ca` (a CA that
    signed nothing: trusting it alone must fail verification)."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
    key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
    decipher_only=False,
)  # fmt: skip


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_pki(directory: Path) -> TlsFiles:
    """A CA and a server certificate (127.0.0.1, localhost) signed by it, as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("crm-harness test CA")
    server_key, server_cert = _server_cert(ca_key, ca_cert)
    _, other_cert = _ca("crm-harness unrelated CA")
    pki = TlsFiles(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem",
        directory / "other-ca.pem",
    )  # fmt: skip
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(_pem_key(server_key))
    pki.other_ca.write_bytes(other_cert.public_bytes(serialization.Encoding.PEM))
    return pki


@dataclass(frozen=True, slots=True)
class JwtKeys:
    """One signing key as the identity provider (`private`) and the server (`public`, `jwks`)
    hold it; `tokens` mints with it."""

    tokens: KeyTokens
    private: Path
    public: Path
    jwks: Path


def make_jwt_keys(directory: Path, algorithm: str, kid: str | None = None) -> JwtKeys:
    directory.mkdir(parents=True, exist_ok=True)
    tokens = KeyTokens.generate(algorithm, kid)
    stem = f"{algorithm.lower()}-{kid or 'nokid'}"
    keys = JwtKeys(
        tokens, directory / f"{stem}.key", directory / f"{stem}.pub", directory / f"{stem}.jwks"
    )
    keys.private.write_bytes(tokens.private_pem())
    keys.public.write_bytes(tokens.public_pem())
    keys.jwks.write_text(json.dumps({"keys": [tokens.public_jwk()]}))
    return keys


@dataclass(slots=True)
class IdentityProvider:
    """A JWKS endpoint on loopback (plain HTTP): `keys` is what it serves now, `fetches` how
    often it was asked."""

    url: str = ""
    keys: list[KeyTokens] = field(default_factory=list)
    fetches: int = 0

    def document(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [k.public_jwk() for k in self.keys]}


@contextmanager
def serve_jwks(*keys: KeyTokens) -> Iterator[IdentityProvider]:
    provider = IdentityProvider(keys=list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(provider.document()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def tls_key_server(tls: TlsFiles, keys: JwtKeys, **changes: Any) -> Iterator[RunningServer]:
    """The reference server serving HTTPS/WSS with `tls`, verifying `keys`' tokens."""
    with start_server(
        jwt_public_key=str(keys.public), tls_cert=str(tls.cert), tls_key=str(tls.key), **changes
    ) as server:
        yield server
