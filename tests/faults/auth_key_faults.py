"""Faults of AUTH-2 that only a server verifying RS256/ES256 can have (spec 1.1 §3): the
classic JWT verification bugs. They are checked against a fault server started with a JWKS
(`test_auth_key_faults.py`), not the shared HS256 one of the other core faults.

Installed by `fault_server.py`; `fault_switch.broken` decides on every call whether a fault is
on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from fault_switch import broken, patch

from harness.spec import ErrorCode
from reference_server.auth import tokens as tokens_module
from reference_server.auth.keys import KeySet, UnknownKey, Verifier

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "AUTH-2/alg-none": "a token whose header says alg none is taken without a signature",
    "AUTH-2/key-confusion": "HS256 tokens are verified with the public key's PEM text as the "
    "secret (the key is handed to a decoder that allows HS256 too)",
    "AUTH-2/any-key": "the signature of an RS256/ES256 token is not checked",
    "AUTH-2/unknown-kid": "a token naming a kid the JWKS lacks is verified with its first key",
}


def _unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _hmac_ok(token: str, secret: bytes) -> bool:
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return hmac.compare_digest(expected, given)


def _public_pem(verifier: Verifier, kid: str | None) -> bytes:
    key = verifier.key_for(kid)
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def install() -> None:
    original = tokens_module.check_token

    def check_token(token: str | None, verifier: Verifier, now: float) -> Any:
        if not isinstance(token, str) or not token:
            return original(token, verifier, now)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return original(token, verifier, now)
        alg, asymmetric = header.get("alg"), verifier.algorithm != "HS256"
        if broken("AUTH-2/alg-none") and alg == "none":
            return tokens_module._claims_checked(_unverified(token), now)
        if broken("AUTH-2/key-confusion") and alg == "HS256" and asymmetric:
            if _hmac_ok(token, _public_pem(verifier, header.get("kid"))):
                return tokens_module._claims_checked(_unverified(token), now)
            raise tokens_module.AuthError(ErrorCode.AUTH_INVALID)
        if broken("AUTH-2/any-key") and alg == verifier.algorithm and asymmetric:
            return tokens_module._claims_checked(_unverified(token), now)
        return original(token, verifier, now)

    def key_for(orig: Any) -> Any:
        def patched(self: KeySet, kid: str | None) -> Any:
            try:
                return orig(self, kid)
            except UnknownKey:
                if not broken("AUTH-2/unknown-kid"):
                    raise
                return next(iter(self.keys.values()))

        return patched

    tokens_module.check_token = check_token  # type: ignore[assignment]
    patch(KeySet, "key_for", key_for)
