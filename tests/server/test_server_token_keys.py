"""AUTH-2 with asymmetric keys (spec 1.1 §3): what the verifiers accept and refuse, and how a
JWKS is cached, refreshed on an unknown kid and rate-limited."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from harness.client import Agent, KeyTokens, TokenFactory, forged_hs256
from harness.spec import ErrorCode
from reference_server.auth import (
    AuthError,
    JwksVerifier,
    KeySetVerifier,
    Verifier,
    check_token,
    verify_token,
)
from reference_server.auth.keys import load_key_file
from reference_server.exceptions import SettingsError, StartupError
from tests.pki import make_jwt_keys

NOW = time.time()
AGENT = Agent("u1", "t1", "b1", "Ann")


def hs256_with(key_text: bytes) -> str:
    claims = {"sub": "u1", "teamId": "t1", "brokerId": "b1", "exp": int(NOW) + 600}
    return forged_hs256(key_text, claims)


def _code(token: str, verifier: Verifier) -> ErrorCode | None:
    try:
        check_token(token, verifier, NOW)
    except AuthError as exc:
        return exc.code
    return None


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_public_key_file_verifies_its_algorithm_only(tmp_path: Path, algorithm: str) -> None:
    """AUTH-2 (1.1): the key's own algorithm verifies; alg none, HS256 signed with the public
    key's text, another key, the shared-secret kind and another RSA algorithm are refused."""
    keys = make_jwt_keys(tmp_path, algorithm)
    verifier = KeySetVerifier(load_key_file(str(keys.public)))
    assert verifier.algorithm == algorithm
    assert _code(keys.tokens.mint(AGENT), verifier) is None
    assert _code(keys.tokens.with_kid("any").mint(AGENT), verifier) is None  # a lone key, no kid
    refused = {
        "alg none": jwt.encode({"sub": "u1", "teamId": "t1", "brokerId": "b1",
                                "exp": int(NOW) + 600}, None, algorithm="none"),
        "confusion (file text)": hs256_with(keys.public.read_bytes()),
        "confusion (no newline)": hs256_with(keys.public.read_bytes().rstrip(b"\n")),
        "another key": KeyTokens.generate(algorithm).mint(AGENT),
        "HS256 secret": TokenFactory("s" * 40).mint(AGENT),
    }  # fmt: skip
    if algorithm == "RS256":
        refused["RS512, same key"] = KeyTokens(keys.tokens.private_key, "RS512").mint(AGENT)
        refused["PS256, same key"] = KeyTokens(keys.tokens.private_key, "PS256").mint(AGENT)
    codes = {label: _code(token, verifier) for label, token in refused.items()}
    assert codes == dict.fromkeys(refused, ErrorCode.AUTH_INVALID)


def test_jwk_set_file_tells_keys_apart_by_kid(tmp_path: Path) -> None:
    """AUTH-2: with several keys a token names its kid; an unknown kid or none is refused."""
    first, second = KeyTokens.generate("RS256", "k1"), KeyTokens.generate("RS256", "k2")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [first.public_jwk(), second.public_jwk()]}))
    verifier = KeySetVerifier(load_key_file(str(path)))
    assert _code(first.mint(AGENT), verifier) is None
    assert _code(second.mint(AGENT), verifier) is None
    assert _code(first.with_kid("k2").mint(AGENT), verifier) is ErrorCode.AUTH_INVALID
    assert _code(first.with_kid("k3").mint(AGENT), verifier) is ErrorCode.AUTH_INVALID
    assert _code(first.with_kid(None).mint(AGENT), verifier) is ErrorCode.AUTH_INVALID


def test_bad_key_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    """A key file that cannot verify anything is refused at startup, in one line."""
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    private = tmp_path / "private.pem"
    private.write_bytes(KeyTokens.generate("ES256").private_pem())
    mixed = tmp_path / "mixed.json"
    mixed_keys = [KeyTokens.generate(alg, alg).public_jwk() for alg in ("RS256", "ES256")]
    mixed.write_text(json.dumps({"keys": mixed_keys}))
    for path, says in (
        (tmp_path / "missing.pem", "cannot read"),
        (not_pem, "not a PEM public key"),
        (private, "not a PEM public key"),
        (mixed, "mixes ES256 and RS256"),
    ):
        with pytest.raises(SettingsError) as refused:
            load_key_file(str(path))
        assert says in str(refused.value) and "\n" not in str(refused.value)


class _Jwks:
    """A JWKS endpoint in-process: what it serves can change, every fetch is counted."""

    def __init__(self, *tokens: KeyTokens) -> None:
        self.keys = [t.public_jwk() for t in tokens]
        self.status = 200

    def serve(self, *tokens: KeyTokens) -> None:
        self.keys = [t.public_jwk() for t in tokens]

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.status != 200:
            return httpx.Response(self.status)
        return httpx.Response(200, json={"keys": self.keys})


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verifier(jwks: _Jwks, clock: _Clock, refresh_s: float = 10.0) -> JwksVerifier:
    return JwksVerifier("https://idp.test/jwks", refresh_interval_s=refresh_s, clock=clock,
                        transport=httpx.MockTransport(jwks.handler))  # fmt: skip


async def _verdict(token: str, verifier: JwksVerifier) -> ErrorCode | None:
    try:
        await verify_token(token, verifier, NOW)
    except AuthError as exc:
        return exc.code
    return None


async def test_jwks_refetched_once_for_a_rotated_key() -> None:
    """§3: a token with a kid the cached JWKS lacks triggers one refetch and then verifies;
    the algorithm was decided by the first fetch."""
    old, new = KeyTokens.generate("ES256", "old"), KeyTokens.generate("ES256", "new")
    jwks, clock = _Jwks(old), _Clock()
    verifier = _verifier(jwks, clock)
    await verifier.open()
    assert (verifier.algorithm, verifier.fetches) == ("ES256", 1)
    assert await _verdict(old.mint(AGENT), verifier) is None
    jwks.serve(old, new)
    clock.now += 11
    assert await _verdict(new.mint(AGENT), verifier) is None
    assert verifier.fetches == 2
    assert await _verdict(new.mint(AGENT), verifier) is None
    assert verifier.fetches == 2  # cached now
    await verifier.close()


async def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    """§3: a flood of tokens with made-up kids costs one JWKS fetch per refresh interval, all
    refused AUTH_INVALID; a failed refetch keeps the keys held."""
    known = KeyTokens.generate("RS256", "known")
    jwks, clock = _Jwks(known), _Clock()
    verifier = _verifier(jwks, clock)
    await verifier.open()
    clock.now += 11
    forged = [known.with_kid(f"made-up-{i}").mint(AGENT) for i in range(50)]
    verdicts = await asyncio.gather(*(_verdict(t, verifier) for t in forged))
    assert verdicts == [ErrorCode.AUTH_INVALID] * 50
    assert verifier.fetches == 2
    clock.now += 5
    assert await _verdict(forged[0], verifier) is ErrorCode.AUTH_INVALID
    assert verifier.fetches == 2  # inside the interval: no fetch
    jwks.status = 503
    clock.now += 10
    assert await _verdict(forged[0], verifier) is ErrorCode.AUTH_INVALID
    assert verifier.fetches == 3
    assert await _verdict(known.mint(AGENT), verifier) is None  # the held key still verifies
    await verifier.close()


async def test_jwks_withdrawn_key_stops_verifying_after_max_age() -> None:
    """§3: the cached set is refetched once it is older than its max age, so a key the
    provider withdrew stops verifying."""
    withdrawn, kept = KeyTokens.generate("RS256", "a"), KeyTokens.generate("RS256", "b")
    jwks, clock = _Jwks(withdrawn, kept), _Clock()
    verifier = JwksVerifier("https://idp.test/jwks", max_age_s=60, clock=clock,
                            transport=httpx.MockTransport(jwks.handler))  # fmt: skip
    await verifier.open()
    jwks.serve(kept)
    clock.now += 61
    assert await _verdict(withdrawn.mint(AGENT), verifier) is None  # still held, refetch started
    for _ in range(100):
        if verifier.fetches == 2:
            break
        await asyncio.sleep(0.01)
    assert await _verdict(withdrawn.mint(AGENT), verifier) is ErrorCode.AUTH_INVALID
    assert await _verdict(kept.mint(AGENT), verifier) is None
    await verifier.close()


async def test_unusable_jwks_at_startup_is_one_line() -> None:
    """A JWKS that cannot be had at startup is a TargetError naming the URL, in one line."""
    jwks, clock = _Jwks(KeyTokens.generate("RS256", "k")), _Clock()
    jwks.status = 404
    with pytest.raises(StartupError) as refused:
        await _verifier(jwks, clock).open()
    assert "https://idp.test/jwks" in str(refused.value) and "\n" not in str(refused.value)
    jwks.status, jwks.keys = 200, []
    with pytest.raises(StartupError, match="no RS256 or ES256 signing key"):
        await _verifier(jwks, clock).open()
