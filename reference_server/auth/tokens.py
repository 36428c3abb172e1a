"""Token verification (AUTH-1, AUTH-2, §15), shared by the socket handshake and REST.

Checks run in the spec's order: presence, signature and algorithm, `exp` (no leeway),
`nbf`, claims. PyJWT validates exp/nbf in its own order, so those two are checked here.
The algorithm is the verifier's one (§3): the header's `alg` must name it exactly, so
`none`, HS256 signed with an RSA public key's text and any other algorithm are refused
before a key is even looked up.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from harness.spec import AUTH_MESSAGES, ErrorCode

from ..domain.contracts import Actor
from ..domain.validation import is_storable_key
from .keys import UnknownKey, Verifier

__all__ = [
    "AuthError",
    "VerifiedToken",
    "check_token",
    "token_from_handshake",
    "token_from_header",
    "verify_token",
]

_BEARER = "bearer "
_IDENTITY_CLAIMS = ("sub", "teamId", "brokerId")
# Tokens whose signature was verified, by token string: a user sends the same token with
# every REST call until it nears `exp`, and PyJWT's decoding (base64 with a per-character
# alphabet check, twice: header, then token) cost about a quarter of a REST change's CPU
# (issue 13 item 3). Bounded; the oldest entry goes first.
_VERIFIED_MAX = 20_000
_DECODE_OPTIONS: Any = {
    "verify_exp": False, "verify_nbf": False, "verify_iat": False,
    "verify_aud": False, "verify_iss": False,
}  # fmt: skip


class AuthError(Exception):
    """A refused token; `message` is the AUTH-2 wording for its code."""

    def __init__(self, code: ErrorCode) -> None:
        self.code = code
        self.message = AUTH_MESSAGES.get(code, "Invalid token")
        super().__init__(self.message)

    def connect_error(self) -> tuple[str, dict[str, str]]:
        """The CONNECT_ERROR arguments: `{"message", "data": {"code"}}` (AUTH-2)."""
        return self.message, {"code": self.code.value}

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    actor: Actor
    exp: float


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token's verified signature: the key it verified with, and its claims (unchecked:
    `exp` and `nbf` depend on when it is used, so they are checked on every use)."""

    algorithm: str
    kid: str | None
    key: Any
    claims: dict[str, Any]


_verified: dict[str, _Verified] = {}


def _remember(token: str, entry: _Verified) -> None:
    if len(_verified) >= _VERIFIED_MAX:
        del _verified[next(iter(_verified))]
    _verified[token] = entry


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _header(token: str) -> Mapping[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError(ErrorCode.AUTH_INVALID) from None
    return header


def check_token(token: str | None, verifier: Verifier, now: float) -> VerifiedToken:
    """The whole verification with the keys the verifier holds now.

    Raises AuthError, or UnknownKey when the token names a key the verifier may learn by
    refreshing (a JWKS); `verify_token` handles that.
    """
    if token is None or token == "":
        raise AuthError(ErrorCode.AUTH_REQUIRED)
    if not isinstance(token, str):
        raise AuthError(ErrorCode.AUTH_INVALID)
    known = _verified.get(token)
    # The same key still verifies it (a refreshed JWKS holds new key objects, so a rotated or
    # removed key sends the token through the whole verification again).
    if (
        known is not None
        and known.algorithm == verifier.algorithm
        and verifier.key_for(known.kid) is known.key
    ):
        return _claims_checked(known.claims, now)
    header = _header(token)
    if header.get("alg") != verifier.algorithm:
        raise AuthError(ErrorCode.AUTH_INVALID)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AuthError(ErrorCode.AUTH_INVALID)
    key = verifier.key_for(kid)
    if key is None:
        raise AuthError(ErrorCode.AUTH_INVALID)
    try:
        claims = jwt.decode(token, key, algorithms=[verifier.algorithm], options=_DECODE_OPTIONS)
    except jwt.PyJWTError:
        raise AuthError(ErrorCode.AUTH_INVALID) from None
    verified = _claims_checked(claims, now)  # only a token accepted in full is remembered
    _remember(token, _Verified(verifier.algorithm, kid, key, claims))
    return verified


async def verify_token(token: str | None, verifier: Verifier, now: float) -> VerifiedToken:
    """`check_token`, refreshing the verifier's keys once when the token names an unknown
    `kid` (a JWKS that rotated); the refresh itself is rate-limited by the verifier."""
    try:
        return check_token(token, verifier, now)
    except UnknownKey:
        if not await verifier.refresh():
            raise AuthError(ErrorCode.AUTH_INVALID) from None
    try:
        return check_token(token, verifier, now)
    except UnknownKey:
        raise AuthError(ErrorCode.AUTH_INVALID) from None


def _claims_checked(claims: Any, now: float) -> VerifiedToken:
    if not isinstance(claims, dict):
        raise AuthError(ErrorCode.AUTH_INVALID)
    exp = claims.get("exp")
    if not _is_number(exp):
        raise AuthError(ErrorCode.AUTH_INVALID)
    assert isinstance(exp, numbers.Real)
    if float(exp) <= now:
        raise AuthError(ErrorCode.AUTH_EXPIRED)
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_number(nbf) or float(nbf) > now):
        raise AuthError(ErrorCode.AUTH_INVALID)
    for claim in _IDENTITY_CLAIMS:
        value = claims.get(claim)
        # NUL or a lone surrogate would crash the store (keys, room names) later: refuse now.
        if not isinstance(value, str) or value == "" or not is_storable_key(value):
            raise AuthError(ErrorCode.AUTH_INVALID)
    name = claims.get("name")
    if isinstance(name, str) and not is_storable_key(name):
        raise AuthError(ErrorCode.AUTH_INVALID)
    display: str = name if isinstance(name, str) and name else claims["sub"]
    actor = Actor(claims["sub"], claims["teamId"], claims["brokerId"], display)
    return VerifiedToken(actor, float(exp))


def token_from_header(authorization: str | None) -> str | None:
    """`Authorization: Bearer <jwt>`; any other scheme is AUTH_INVALID (§15)."""
    if authorization is None:
        return None
    if authorization.strip().lower() == _BEARER.strip():
        return ""
    if not authorization.lower().startswith(_BEARER):
        raise AuthError(ErrorCode.AUTH_INVALID)
    return authorization[len(_BEARER) :].strip()


def token_from_handshake(auth: object, environ: Mapping[str, Any]) -> str | None:
    """`auth.token` wins over the handshake's Authorization header (AUTH-1, §15)."""
    if isinstance(auth, Mapping) and auth.get("token") is not None:
        token = auth["token"]
        if not isinstance(token, str):
            raise AuthError(ErrorCode.AUTH_INVALID)
        return token
    return token_from_header(environ.get("HTTP_AUTHORIZATION"))
