"""What the server verifies token signatures with (SPEC §3): one algorithm, and its keys.

- `SecretVerifier`: HS256 with the shared `JWT_SECRET` (the default).
- `KeySetVerifier`: RS256 or ES256 with public keys read once from a file: a PEM public key,
  an X.509 certificate, or a JWK / JWKS JSON document (keys told apart by `kid`).
- `JwksVerifier` (in `jwks.py`): the same with a JWKS fetched from a URL, cached and refreshed.

The algorithm is decided by the keys (RSA → RS256, EC P-256 → ES256), never by a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..exceptions import SettingsError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "KeySet",
    "KeySetVerifier",
    "SecretVerifier",
    "UnknownKey",
    "Verifier",
    "algorithm_of",
    "key_set_from_jwks",
    "load_key_file",
]

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


class UnknownKey(Exception):
    """The token names a `kid` the verifier does not hold (yet): a refresh may find it."""


class Verifier(Protocol):
    """One signing algorithm and the keys for it. `key_for` returns None for a token that no
    refresh could make valid (several keys and no `kid`), raises UnknownKey when one might."""

    @property
    def algorithm(self) -> str: ...

    def key_for(self, kid: str | None) -> Any: ...

    async def refresh(self) -> bool:
        """Fetch the keys again if allowed now; True when fresh keys were loaded."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class _Static:
    """Keys that never change while the server runs."""

    async def refresh(self) -> bool:
        return False

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None


class SecretVerifier(_Static):
    algorithm = "HS256"

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def key_for(self, kid: str | None) -> Any:
        return self._secret  # a shared secret has no key ids: any kid is irrelevant


@dataclass(frozen=True, slots=True)
class KeySet:
    """Public keys of one algorithm by `kid` (None: a key without one)."""

    algorithm: str
    keys: Mapping[str | None, Any]

    def key_for(self, kid: str | None) -> Any:
        """The key for `kid`; a lone key also verifies tokens without a kid, or (when it has
        no kid itself) with any kid; UnknownKey for a kid the set lacks."""
        if kid is not None and kid in self.keys:
            return self.keys[kid]
        if len(self.keys) == 1:
            ((only_kid, key),) = self.keys.items()
            if kid is None or only_kid is None:
                return key
        if kid is None:
            return None  # several keys and no kid: no way to pick one
        raise UnknownKey(kid)


class KeySetVerifier(_Static):
    def __init__(self, key_set: KeySet) -> None:
        self._set = key_set

    @property
    def algorithm(self) -> str:
        return self._set.algorithm

    def key_for(self, kid: str | None) -> Any:
        try:
            return self._set.key_for(kid)
        except UnknownKey:
            return None  # a file does not change: no refresh would help


def algorithm_of(key: Any) -> str | None:
    """RS256 for an RSA key, ES256 for an EC P-256 key (public or private), else None."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "ES256" if isinstance(key.curve, ec.SECP256R1) else None
    return None


def key_set_from_jwks(document: Any, algorithm: str | None = None, where: str = "JWKS") -> KeySet:
    """The signing keys of a JWKS (or of one JWK) document, all of one algorithm.

    `algorithm` given (a refresh): keys of other algorithms are left out. Not given: the keys
    decide, and must agree (the spec has one algorithm per server). ValueError in one line.
    """
    if isinstance(document, Mapping) and "keys" not in document and "kty" in document:
        document = {"keys": [document]}
    raw = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(raw, list):
        raise ValueError(f'{where} is not a JWKS: no "keys" list')
    found: dict[str | None, tuple[str, Any]] = {}
    for entry in raw:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK.from_dict(dict(entry))
        except jwt.PyJWTError:
            continue  # a key type this server cannot use (the spec allows RS256/ES256)
        if jwk.algorithm_name in ASYMMETRIC_ALGORITHMS:
            found[jwk.key_id] = (jwk.algorithm_name, jwk.key)
    algorithms = sorted({alg for alg, _ in found.values()})
    if algorithm is None:
        if not algorithms:
            raise ValueError(f"{where} has no RS256 or ES256 signing key")
        if len(algorithms) > 1:
            raise ValueError(f"{where} mixes {' and '.join(algorithms)}: one algorithm per server")
        algorithm = algorithms[0]
    keys = {kid: key for kid, (alg, key) in found.items() if alg == algorithm}
    if not keys:
        raise ValueError(f"{where} has no {algorithm} signing key")
    return KeySet(algorithm, keys)


def _pem_public_key(data: bytes) -> Any:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def load_key_file(path: str) -> KeySet:
    """`--jwt-public-key FILE`: a PEM public key or certificate, or a JWK/JWKS JSON file.
    SettingsError in one line for anything else."""
    option = f"--jwt-public-key {path}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"{option}: cannot read it ({exc.strerror or exc})") from None
    if data.lstrip().startswith(b"{"):
        try:
            return key_set_from_jwks(json.loads(data), where=option)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise SettingsError(f"{option}: {exc}".splitlines()[0]) from None
    try:
        key = _pem_public_key(data)
    except ValueError:
        raise SettingsError(
            f"{option}: not a PEM public key, certificate, or JWK/JWKS JSON file"
        ) from None
    algorithm = algorithm_of(key)
    if algorithm is None:
        raise SettingsError(f"{option}: only RSA (RS256) and EC P-256 (ES256) keys are supported")
    return KeySet(algorithm, {None: key})
