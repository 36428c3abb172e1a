"""Where users' tokens come from (SPEC §3): the one interface everything that mints uses.

- `TokenFactory(secret)`: HS256 with the server's shared secret (`--jwt-secret`, `JWT_SECRET`).
- `KeyTokens`: RS256/ES256 with the identity provider's private key (`--jwt-private-key`),
  optionally naming its `kid` (`--jwt-kid`).
- `CommandTokens`: a command the team's identity provider gives (`--token-cmd`): run with the
  user's claims as JSON on stdin, it prints the token on stdout.

Each is a `TokenSource`: `mint(agent, ttl_seconds=, extra=, omit=)`. Failures of a source are
`TokenSourceError`, one line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness._exceptions import HarnessError, UsageError
from harness._target_options import ASYMMETRIC_ALGORITHMS, SECRET_ENV

from ._tokens import Agent

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "CommandTokens",
    "KeyTokens",
    "TokenFactory",
    "TokenSource",
    "TokenSourceError",
    "claims_for",
    "forged_hs256",
    "token_expiry",
    "token_source",
]

DEFAULT_COMMAND_TIMEOUT_S = 10.0


class TokenSourceError(HarnessError):
    """A token source could not give a token (exit 2, one line)."""


class TokenSource(Protocol):
    """Mints a user's token. `algorithm` is what it signs with; None when the issuer decides
    (a token command)."""

    @property
    def algorithm(self) -> str | None: ...

    def mint(
        self,
        agent: Agent,
        *,
        ttl_seconds: float = 3600,
        extra: Mapping[str, Any] | None = None,
        omit: tuple[str, ...] = (),
    ) -> str: ...


def claims_for(
    agent: Agent,
    ttl_seconds: float = 3600,
    extra: Mapping[str, Any] | None = None,
    omit: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The §3 claims of `agent`; `extra` adds or overrides claims, `omit` drops some
    (negative tests)."""
    claims: dict[str, Any] = {
        "sub": agent.user_id,
        "teamId": agent.team_id,
        "brokerId": agent.broker_id,
        "name": agent.name,
        "exp": int(time.time() + ttl_seconds),
    }
    claims.update(extra or {})
    for key in omit:
        claims.pop(key, None)
    return claims


def _segment(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def token_expiry(token: str) -> float | None:
    """The `exp` a token carries (unverified: for re-minting in time), None without one."""
    try:
        exp = _segment(token.split(".")[1]).get("exp")
    except (IndexError, ValueError, AttributeError, binascii.Error):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_hs256(key_text: bytes, claims: Mapping[str, Any], kid: str | None = None) -> str:
    """HS256 with arbitrary bytes as the secret: the algorithm-confusion forgery (an RS256
    public key's PEM text used as an HMAC secret), for negative checks. Put together by hand,
    as PyJWT rightly refuses key-looking secrets."""
    header: dict[str, str] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key_text, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class _ClaimsSigner:
    """A source that signs the §3 claims of an agent: subclasses fill in `sign`."""

    __slots__ = ()

    def mint(
        self,
        agent: Agent,
        *,
        ttl_seconds: float = 3600,
        extra: Mapping[str, Any] | None = None,
        omit: tuple[str, ...] = (),
    ) -> str:
        return self.sign(claims_for(agent, ttl_seconds, extra, omit))

    def sign(self, claims: dict[str, Any]) -> str:
        raise NotImplementedError


@dataclass(slots=True)
class TokenFactory(_ClaimsSigner):
    """HS256 (or another HMAC algorithm, for negative tests) with a shared secret."""

    secret: str
    algorithm: str = "HS256"

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.secret, algorithm=self.algorithm)


def _algorithm_of(key: Any) -> str | None:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    return None


@dataclass(slots=True)
class KeyTokens(_ClaimsSigner):
    """RS256/ES256 with a private key, parsed once (PEM parsing costs more than signing).

    `algorithm` may be set for negative tests (RS512 with an RSA key); `kid` goes in the
    header when given.
    """

    private_key: Any  # cryptography RSAPrivateKey / EllipticCurvePrivateKey
    algorithm: str
    kid: str | None = None
    _headers: dict[str, str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._headers = {"kid": self.kid} if self.kid is not None else None

    @classmethod
    def from_file(
        cls, path: str | Path, algorithm: str | None = None, kid: str | None = None
    ) -> KeyTokens:
        """`--jwt-private-key FILE [--jwt-alg] [--jwt-kid]`; UsageError in one line."""
        option = f"--jwt-private-key {path}"
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"{option}: cannot read it ({exc.strerror or exc})") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise UsageError(
                f"{option}: not an unencrypted PEM private key (RSA or EC P-256)"
            ) from None
        fitting = _algorithm_of(key)
        if fitting is None:
            raise UsageError(f"{option}: only RSA (RS256) and EC P-256 (ES256) keys are supported")
        if algorithm is not None and algorithm != fitting:
            raise UsageError(f"--jwt-alg {algorithm} does not fit {option} (a {fitting} key)")
        return cls(key, fitting, kid)

    @classmethod
    def generate(cls, algorithm: str, kid: str | None = None) -> KeyTokens:
        """A fresh key pair: tests, and "a token signed by another key" checks."""
        if algorithm == "RS256":
            key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif algorithm == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"cannot generate a key for {algorithm}")
        return cls(key, algorithm, kid)

    def with_kid(self, kid: str | None) -> KeyTokens:
        return KeyTokens(self.private_key, self.algorithm, kid)

    def public_pem(self) -> bytes:
        """The public key as a PEM SubjectPublicKeyInfo document (what servers are given)."""
        public: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return public

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (with `kid` and `alg`), for a JWKS."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"alg": self.algorithm, "use": "sig"})
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    def private_pem(self) -> bytes:
        private: bytes = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return private

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers=self._headers)


def _looks_like_jwt(text: str) -> bool:
    parts = text.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return False
    try:
        header = _segment(parts[0])
        _segment(parts[1])
    except (ValueError, binascii.Error):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


@dataclass(slots=True)
class CommandTokens(_ClaimsSigner):
    """`--token-cmd CMD`: a shell command reads the claims (JSON) on stdin and prints the
    token. The command is expected to sign the claims it is given (negative checks hand it
    expired or incomplete ones); its exit code, output and time are checked."""

    command: str
    timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S
    algorithm: str | None = None
    calls: int = 0
    # A load run's users all want their token at once: a few commands at a time (one per
    # core), so that `timeout_s` times the command, not the queue of its siblings.
    _running: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(os.cpu_count() or 1), repr=False
    )

    def sign(self, claims: dict[str, Any]) -> str:
        self.calls += 1
        what = f"--token-cmd {self.command!r}"
        try:
            with self._running:
                done = subprocess.run(
                    self.command, shell=True, input=json.dumps(claims), capture_output=True,
                    text=True, timeout=self.timeout_s, check=False,
                )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise TokenSourceError(f"{what} gave no token within {self.timeout_s:g} s") from None
        except OSError as exc:
            raise TokenSourceError(f"{what} could not run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            detail = f": {said[-1][:200]}" if said else ""
            raise TokenSourceError(f"{what} exited with code {done.returncode}{detail}")
        token = done.stdout.strip()
        if not token:
            raise TokenSourceError(f"{what} printed nothing (expected a JWT on stdout)")
        if not _looks_like_jwt(token):
            raise TokenSourceError(f"{what} printed something that is not a JWT: {token[:40]!r}")
        return token


def token_source(values: Mapping[str, Any], env: Mapping[str, str] | None = None) -> TokenSource:
    """One source from `jwt_secret` (or env JWT_SECRET) / `jwt_private_key` (+ `jwt_alg`,
    `jwt_kid`) / `token_cmd`. An explicit option wins over the environment's secret."""
    env = os.environ if env is None else env
    key, command = values.get("jwt_private_key"), values.get("token_cmd")
    secret = values.get("jwt_secret")
    given = [n for n, v in (("--jwt-secret", secret), ("--jwt-private-key", key),
                            ("--token-cmd", command)) if v]  # fmt: skip
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)}: give one token source")
    if (values.get("jwt_alg") or values.get("jwt_kid")) and not key:
        raise UsageError("--jwt-alg and --jwt-kid go with --jwt-private-key")
    if key:
        return KeyTokens.from_file(key, values.get("jwt_alg"), values.get("jwt_kid"))
    if command:
        return CommandTokens(command)
    secret = secret or env.get(SECRET_ENV)
    if not secret:
        raise UsageError(
            f"tokens: give --jwt-secret (or {SECRET_ENV}), --jwt-private-key or --token-cmd"
        )
    return TokenFactory(secret)
