"""The verified-token memory of `auth.tokens` (issue 13 item 3): a token is decoded once, but
`exp` and `nbf` still count on every use, and a key that changed verifies it again."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from harness.client import Agent, TokenFactory
from harness.spec import ErrorCode
from reference_server.auth import AuthError, SecretVerifier, check_token
from reference_server.auth import tokens as tokens_module

AGENT = Agent("u1", "t1", "b1", "Ann")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every signature verification `check_token` runs (PyJWT's decode), by token."""
    seen: list[str] = []
    real = tokens_module.jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(tokens_module.jwt, "decode", counting)
    return seen


def _code(token: str, verifier: Any, now: float) -> ErrorCode | None:
    try:
        check_token(token, verifier, now)
    except AuthError as exc:
        return exc.code
    return None


def test_a_token_is_decoded_once(decodes: list[str]) -> None:
    secret = secrets.token_hex(32)
    verifier = SecretVerifier(secret)
    token = TokenFactory(secret).mint(AGENT)
    now = time.time()
    first, again = check_token(token, verifier, now), check_token(token, verifier, now + 1)
    assert first == again and first.actor.user_id == "u1"
    assert decodes == [token]


def test_a_remembered_token_still_expires(decodes: list[str]) -> None:
    secret = secrets.token_hex(32)
    verifier = SecretVerifier(secret)
    token = TokenFactory(secret).mint(AGENT, ttl_seconds=60)
    verified = check_token(token, verifier, time.time())
    assert _code(token, verifier, verified.exp - 0.001) is None
    assert _code(token, verifier, verified.exp) is ErrorCode.AUTH_EXPIRED  # no leeway (AUTH-2)
    assert decodes == [token]  # refused from memory, not by decoding it again


def test_a_token_not_yet_valid_is_not_remembered(decodes: list[str]) -> None:
    secret = secrets.token_hex(32)
    verifier = SecretVerifier(secret)
    now = time.time()
    token = TokenFactory(secret).mint(AGENT, extra={"nbf": int(now) + 30})
    assert _code(token, verifier, now) is ErrorCode.AUTH_INVALID
    assert _code(token, verifier, now + 31) is None
    assert decodes == [token, token]


def test_another_key_verifies_the_token_again(decodes: list[str]) -> None:
    """Another secret, or a verifier whose key was replaced (a refreshed JWKS): the remembered
    verification does not count; the token is checked against the key held now."""
    secret = secrets.token_hex(32)
    token = TokenFactory(secret).mint(AGENT)
    now = time.time()
    assert _code(token, SecretVerifier(secret), now) is None
    assert _code(token, SecretVerifier(secrets.token_hex(32)), now) is ErrorCode.AUTH_INVALID

    class Rotating(SecretVerifier):
        def __init__(self, key: str) -> None:
            super().__init__(key)
            self.key = key

        def key_for(self, kid: str | None) -> Any:
            return self.key

    rotating = Rotating(secret)
    assert _code(token, rotating, now) is None
    rotating.key = (secret + "!")[:-1]  # an equal key, a new object: verified again, accepted
    assert _code(token, rotating, now) is None
    rotating.key = secrets.token_hex(32)
    assert _code(token, rotating, now) is ErrorCode.AUTH_INVALID
    assert len(decodes) == 4


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch, decodes: list[str]) -> None:
    monkeypatch.setattr(tokens_module, "_VERIFIED_MAX", 2)
    monkeypatch.setattr(tokens_module, "_verified", {})
    secret = secrets.token_hex(32)
    verifier = SecretVerifier(secret)
    tokens = [TokenFactory(secret).mint(Agent(f"u{i}", "t1", "b1", "A")) for i in range(3)]
    now = time.time()
    for token in tokens:
        check_token(token, verifier, now)
    assert list(tokens_module._verified) == tokens[1:]
    check_token(tokens[0], verifier, now)  # forgotten: decoded again
    assert decodes == [*tokens, tokens[0]]
