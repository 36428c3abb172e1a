"""Authentication (SPEC §3): where a token comes from, what verifies it, and with which keys."""

from __future__ import annotations

from ..config import ServerSettings
from .jwks import JwksVerifier
from .keys import KeySetVerifier, SecretVerifier, UnknownKey, Verifier, load_key_file
from .tokens import (
    AuthError,
    VerifiedToken,
    check_token,
    token_from_handshake,
    token_from_header,
    verify_token,
)

__all__ = [
    "AuthError",
    "JwksVerifier",
    "KeySetVerifier",
    "SecretVerifier",
    "UnknownKey",
    "VerifiedToken",
    "Verifier",
    "check_token",
    "token_from_handshake",
    "token_from_header",
    "verifier_for",
    "verify_token",
]


def verifier_for(settings: ServerSettings) -> Verifier:
    """The verifier the settings name: a JWKS URL, a public key file, else the secret.
    A JWKS verifier must be `open()`ed before use (the runner does it before serving)."""
    if settings.jwks_url:
        return JwksVerifier(settings.jwks_url, refresh_interval_s=settings.jwks_refresh_s)
    if settings.jwt_public_key:
        return KeySetVerifier(load_key_file(settings.jwt_public_key))
    return SecretVerifier(settings.jwt_secret)
