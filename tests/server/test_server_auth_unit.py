"""Token verification table: AUTH-1, AUTH-2 and the identity rules of §15."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from harness.spec import ErrorCode
from reference_server.auth import (
    AuthError,
    SecretVerifier,
    check_token,
    token_from_handshake,
    token_from_header,
)

SECRET = "unit-secret-" + "0123456789abcdef" * 4
NOW = time.time()
VERIFIER = SecretVerifier(SECRET)


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "u1", "teamId": "t1", "brokerId": "b1", "name": "Ann", "exp": int(NOW + 600),
    }  # fmt: skip
    for key, value in changes.items():
        if value is _DROP:
            claims.pop(key)
        else:
            claims[key] = value
    return claims


_DROP = object()


def _sign(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _code(token: str | None) -> ErrorCode | None:
    try:
        check_token(token, VERIFIER, NOW)
    except AuthError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, ErrorCode.AUTH_REQUIRED),
        ("", ErrorCode.AUTH_REQUIRED),
        ("not-a-jwt", ErrorCode.AUTH_INVALID),
        (_sign(_claims(), secret="another-secret-0123456789abcdef0123"), ErrorCode.AUTH_INVALID),
        (_sign(_claims(), algorithm="HS512"), ErrorCode.AUTH_INVALID),
        (jwt.encode(_claims(), None, algorithm="none"), ErrorCode.AUTH_INVALID),
        (_sign(_claims(sub=_DROP)), ErrorCode.AUTH_INVALID),
        (_sign(_claims(teamId=_DROP)), ErrorCode.AUTH_INVALID),
        (_sign(_claims(brokerId=_DROP)), ErrorCode.AUTH_INVALID),
        (_sign(_claims(exp=_DROP)), ErrorCode.AUTH_INVALID),
        (_sign(_claims(sub="")), ErrorCode.AUTH_INVALID),
        (_sign(_claims(teamId=7)), ErrorCode.AUTH_INVALID),
        (_sign(_claims(exp="soon")), ErrorCode.AUTH_INVALID),
        (_sign(_claims(exp=int(NOW) - 1)), ErrorCode.AUTH_EXPIRED),
        (_sign(_claims(exp=NOW)), ErrorCode.AUTH_EXPIRED),  # no leeway
        (_sign(_claims(nbf=int(NOW) + 60)), ErrorCode.AUTH_INVALID),
        # exp is checked before the claims (§15 order)
        (_sign(_claims(exp=int(NOW) - 1, sub=_DROP)), ErrorCode.AUTH_EXPIRED),
        (_sign(_claims(nbf=int(NOW) - 60)), None),
        (_sign(_claims()), None),
    ],
    ids=[
        "absent", "empty", "malformed", "bad-signature", "hs512", "alg-none", "no-sub",
        "no-team", "no-broker", "no-exp", "empty-sub", "team-not-string", "exp-not-number",
        "expired", "expires-now", "nbf-future", "expired-before-claims", "nbf-past", "valid",
    ],
)  # fmt: skip
def test_token_table(token: str | None, code: ErrorCode | None) -> None:
    """AUTH-2, §15: every refusal case answers its code; checks run in the spec's order."""
    assert _code(token) == code


def test_valid_token_gives_actor_and_name_defaults_to_sub() -> None:
    """AUTH-1, §15: claims become the Actor; a missing name defaults to sub."""
    verified = check_token(_sign(_claims(name=_DROP)), VERIFIER, NOW)
    assert verified.actor.user_id == "u1"
    assert verified.actor.name == "u1"
    assert verified.actor.streams == ("broker:b1", "team:t1", "user:u1")
    assert verified.exp == int(NOW + 600)


def test_messages_match_codes() -> None:
    """AUTH-2: CONNECT_ERROR wording per code."""
    with pytest.raises(AuthError) as refused:
        check_token(None, VERIFIER, NOW)
    assert refused.value.connect_error() == ("Authentication required", {"code": "AUTH_REQUIRED"})


def test_header_and_handshake_sources() -> None:
    """AUTH-1, §15: Bearer header; other schemes invalid; auth.token wins over the header."""
    assert token_from_header("Bearer abc") == "abc"
    assert token_from_header("bearer abc") == "abc"
    assert token_from_header(None) is None
    assert token_from_header("Bearer ") == ""
    with pytest.raises(AuthError) as refused:
        token_from_header("Basic dXNlcjpwYXNz")
    assert refused.value.code is ErrorCode.AUTH_INVALID
    environ = {"HTTP_AUTHORIZATION": "Bearer from-header"}
    assert token_from_handshake({"token": "from-auth"}, environ) == "from-auth"
    assert token_from_handshake({"token": ""}, environ) == ""
    assert token_from_handshake(None, environ) == "from-header"
    assert token_from_handshake({}, {}) is None
    with pytest.raises(AuthError):
        token_from_handshake({"token": 42}, environ)
