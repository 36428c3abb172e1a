"""§3 Authentication: where the token goes, refusals, expiry, refresh (AUTH-1..AUTH-4)."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

import pytest

from harness.client import (
    Agent,
    KeyTokens,
    RealtimeClient,
    TokenFactory,
    claims_for,
    forged_hs256,
)
from harness.spec import (
    AUTH_MESSAGES,
    HTTP_STATUS,
    REFRESH_GRACE_SECONDS,
    ClientEvent,
    ErrorCode,
    ServerEvent,
)

from ..check_api import Crm, is_wire_timestamp
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio


def _unsigned_token(agent: Agent) -> str:
    """`alg: none`: a token no server may accept."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": agent.user_id, "teamId": agent.team_id, "brokerId": agent.broker_id,
              "exp": int(time.time()) + 3600}  # fmt: skip
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@functools.lru_cache(maxsize=4)
def _another_key(algorithm: str, kid: str | None) -> KeyTokens:
    """A key pair the target has never seen (made once per run: RSA keys are slow to make)."""
    return KeyTokens.generate(algorithm, kid)


def _source_kid(crm: Crm) -> str | None:
    return crm.tokens.kid if isinstance(crm.tokens, KeyTokens) else None


def _forged_signature(crm: Crm, agent: Agent) -> str:
    """Well-formed, of the advertised algorithm, signed with a key the target does not trust:
    another secret (HS256), or another key pair with the same kid (RS256/ES256)."""
    algorithm = crm.target.algorithms[0]
    if algorithm in ("RS256", "ES256"):
        return _another_key(algorithm, _source_kid(crm)).mint(agent)
    return TokenFactory(secrets.token_hex(32)).mint(agent)


def _other_algorithm(crm: Crm, agent: Agent) -> tuple[str, str] | None:
    """(label, token) signed with the target's own key under another algorithm of its kind,
    when the suite holds that key: HS512 with the secret, RS512 with the RSA key."""
    tokens = crm.tokens
    if isinstance(tokens, TokenFactory):
        return "alg HS512", TokenFactory(tokens.secret, "HS512").mint(agent)
    if isinstance(tokens, KeyTokens) and tokens.algorithm == "RS256":
        return "alg RS512", KeyTokens(tokens.private_key, "RS512", tokens.kid).mint(agent)
    return None


def _bad_tokens(crm: Crm, agent: Agent) -> dict[str, tuple[str | None, ErrorCode]]:
    """Label → (token, expected code), per AUTH-2 and §15."""
    cases = {
        "no token": (None, ErrorCode.AUTH_REQUIRED),
        "empty token": ("", ErrorCode.AUTH_REQUIRED),
        "bad signature": (_forged_signature(crm, agent), ErrorCode.AUTH_INVALID),
        "malformed": ("abc.def", ErrorCode.AUTH_INVALID),
        "alg none": (_unsigned_token(agent), ErrorCode.AUTH_INVALID),
        "no sub": (crm.token(agent, omit=("sub",)), ErrorCode.AUTH_INVALID),
        "no teamId": (crm.token(agent, omit=("teamId",)), ErrorCode.AUTH_INVALID),
        "no brokerId": (crm.token(agent, omit=("brokerId",)), ErrorCode.AUTH_INVALID),
        "no exp": (crm.token(agent, omit=("exp",)), ErrorCode.AUTH_INVALID),
        "expired": (crm.token(agent, ttl_seconds=-60), ErrorCode.AUTH_EXPIRED),
        "nbf in the future": (crm.token(agent, extra={"nbf": int(time.time()) + 3600}),
                              ErrorCode.AUTH_INVALID),
        "empty sub": (crm.token(agent, extra={"sub": ""}), ErrorCode.AUTH_INVALID),
        "numeric teamId": (crm.token(agent, extra={"teamId": 7}), ErrorCode.AUTH_INVALID),
    }  # fmt: skip
    other = _other_algorithm(crm, agent)
    if other is not None:
        cases[other[0]] = (other[1], ErrorCode.AUTH_INVALID)
    return cases


async def _refused_everywhere(crm: Crm, agent: Agent, tokens: Mapping[str, str]) -> None:
    """Each token is AUTH_INVALID on the socket's CONNECT, over REST (401) and as the new
    token of `auth:refresh` on a socket of the same user (AUTH-2, AUTH-4)."""
    connected = await crm.client(agent, from_heads=False)
    for label, token in tokens.items():
        failure = await crm.realtime(None, token=token).try_connect()
        observed = None if failure is None else {"message": failure.message, "code": failure.code}
        invalid = ErrorCode.AUTH_INVALID
        expect_equal(observed, {"message": AUTH_MESSAGES[invalid], "code": invalid.value},
                     f"socket refusal for {label}")  # fmt: skip
        response = await crm.rest(None, token=token).list("escrow")
        expect_equal((response.status, response.code), (HTTP_STATUS[invalid], invalid.value),
                     f"REST refusal for {label}")  # fmt: skip
        answer = await connected.request(ClientEvent.AUTH_REFRESH, {"token": token})
        expect_equal(answer.code, invalid.value, f"auth:refresh with {label}",
                     observed_ack(answer.raw))  # fmt: skip


@pytest.mark.req("AUTH-1")
async def test_token_in_auth_or_header(crm: Crm) -> None:
    """AUTH-1: auth.token or Authorization: Bearer on the handshake; auth.token wins;
    REST uses the header."""
    agent = crm.org.agent()
    for place in ("auth", "header"):
        failure = await crm.realtime(agent, token_in=place).try_connect()
        expect(failure is None, f"token in {place} refused", observed=failure)
    forged = {"Authorization": "Bearer forged.token.value"}
    winner = crm.realtime(agent, token_in="auth", headers=forged)
    failure = await winner.try_connect()
    expect(failure is None, "auth.token must win over the header", observed=failure)
    listed = await crm.rest(agent).list("escrow")
    expect_equal(listed.status, 200, "REST with Authorization: Bearer")


@pytest.mark.req("AUTH-2")
async def test_refusals_carry_the_spec_code(crm: Crm) -> None:
    """AUTH-2: CONNECT_ERROR {message, data: {code}} and REST 401 with the same code, for a
    missing, forged (another secret, or another key pair), malformed, unsigned (alg none),
    other-algorithm (HS512/RS512 with the target's own key), incomplete, ill-typed,
    not-yet-valid or expired token (§15 decides the edge cases)."""
    agent = crm.org.agent()
    cases = _bad_tokens(crm, agent)

    async def socket_refusal(token: str | None) -> Any:
        return await crm.realtime(None, token=token).try_connect()

    failures = await asyncio.gather(*(socket_refusal(token) for token, _ in cases.values()))
    for (label, (_, code)), failure in zip(cases.items(), failures, strict=True):
        observed = None if failure is None else {"message": failure.message, "code": failure.code}
        expected = {"message": AUTH_MESSAGES[code], "code": code.value}
        expect_equal(observed, expected, f"socket refusal for {label}")
    # An empty bearer token cannot travel in an HTTP header (no trailing space allowed).
    rest_cases = {label: case for label, case in cases.items() if case[0] != ""}
    responses = await asyncio.gather(
        *(crm.rest(None, token=token).list("escrow") for token, _ in rest_cases.values())
    )
    for (label, (_, code)), response in zip(rest_cases.items(), responses, strict=True):
        expect_equal(
            (response.status, response.code),
            (HTTP_STATUS[code], code.value),
            f"REST refusal for {label}",
        )
    wrong_scheme = crm.realtime(None, token=None, headers={"Authorization": "Basic dXNlcg=="})
    failure = await wrong_scheme.try_connect()
    expect_equal(
        failure.code if failure else None,
        ErrorCode.AUTH_INVALID.value,
        "an Authorization header that is not Bearer",
    )


def _exp_of(token: str) -> float:
    return float(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["exp"])


def _short_lived_token(crm: Crm, agent: Agent) -> str:
    """A token that expires in a few seconds, yet not before the check has used it: a slow
    token source (a command on a busy machine) gets a life long enough for its own pace."""
    ttl = 2.5
    for _ in range(3):
        started = time.monotonic()
        token = crm.token(agent, ttl_seconds=ttl)
        took = time.monotonic() - started
        if _exp_of(token) - time.time() >= 1.2 + 2 * took:
            break
        ttl += 1 + 3 * took
    return token


async def _expiring_client(
    crm: Crm, agent: Agent, token: str | None = None
) -> tuple[RealtimeClient, float]:
    token = token or _short_lived_token(crm, agent)
    client = await crm.client(agent, token=token, from_heads=False)
    return client, _exp_of(token)


@pytest.mark.req("AUTH-3")
async def test_expired_session_is_told_and_closed(crm: Crm) -> None:
    """AUTH-3: at exp the socket gets session:expired {code: AUTH_EXPIRED, timestamp} and is
    disconnected within 2 s."""
    client, exp = await _expiring_client(crm, crm.org.agent())
    deadline = exp + REFRESH_GRACE_SECONDS - time.time()
    dropped = await client.wait_disconnected(max(deadline, 0.1) + 0.3)
    expect(dropped, "socket still open 2 s after its token expired", requirement="AUTH-3")
    late = client.disconnects[-1].at - exp
    expect(
        late <= REFRESH_GRACE_SECONDS + 0.3,
        "disconnected too late",
        expected=f"≤ {REFRESH_GRACE_SECONDS} s after exp",
        observed=f"{late:.2f} s",
    )
    notice = client.received(ServerEvent.SESSION_EXPIRED)
    expect(len(notice) == 1, "session:expired must be sent once", observed=len(notice))
    payload = notice[0].payload
    expect(
        payload.get("code") == ErrorCode.AUTH_EXPIRED.value
        and is_wire_timestamp(payload.get("timestamp")),
        "session:expired payload",
        expected={"code": "AUTH_EXPIRED", "timestamp": "…Z"},
        observed=payload,
    )


@pytest.mark.req("AUTH-4")
async def test_refresh_replaces_the_token(crm: Crm) -> None:
    """AUTH-4: a valid refresh acks {ok, exp} and the socket outlives the old exp; refusals
    (other sub/team/broker, expired, forged, no token) leave the old token in force."""
    kept_agent, refused_agent, other = crm.org.agent(), crm.org.agent(), crm.org.agent()
    # Every token is minted before the 2.5 s sockets open: a token command may take a while.
    new_token = crm.token(kept_agent, ttl_seconds=3600, extra={"name": "Renamed Agent"})
    attempts = {
        "another sub": (crm.token(other), ErrorCode.AUTH_INVALID),
        "another team": (crm.token(Agent(refused_agent.user_id, other.team_id,
                                         refused_agent.broker_id, "x")), ErrorCode.AUTH_INVALID),
        "another broker": (crm.token(Agent(refused_agent.user_id, refused_agent.team_id,
                                           other.broker_id, "x")), ErrorCode.AUTH_INVALID),
        "expired": (crm.token(refused_agent, ttl_seconds=-5), ErrorCode.AUTH_EXPIRED),
        "forged": (_forged_signature(crm, refused_agent), ErrorCode.AUTH_INVALID),
    }  # fmt: skip
    kept, old_exp = await _expiring_client(crm, kept_agent)
    refused, refused_exp = await _expiring_client(crm, refused_agent)
    ack = await kept.request(ClientEvent.AUTH_REFRESH, {"token": new_token})
    new_exp = _exp_of(new_token)
    expect_equal(ack.raw, {"ok": True, "exp": new_exp}, "auth:refresh ack")
    for label, (token, code) in attempts.items():
        answer = await refused.request(ClientEvent.AUTH_REFRESH, {"token": token})
        expect_equal(answer.code, code.value, f"refresh with {label}", observed_ack(answer.raw))
    missing = await refused.request(ClientEvent.AUTH_REFRESH, {})
    crm.exercised("AUTH-4", "claim:sub", "claim:teamId", "claim:brokerId", "expired", "forged",
                  "no token")  # fmt: skip
    expect_equal(missing.code, ErrorCode.VALIDATION_ERROR.value, "refresh without a token")
    wait = max(old_exp, refused_exp) + REFRESH_GRACE_SECONDS + 0.3 - time.time()
    await asyncio.sleep(max(wait, 0))
    expect(
        kept.connected and not kept.received(ServerEvent.SESSION_EXPIRED),
        "the socket expired on its old token despite a successful refresh",
    )
    expect(
        not refused.connected and refused.received(ServerEvent.SESSION_EXPIRED),
        "a refused refresh replaced the old token (socket outlived the old exp)",
    )


def observed_ack(raw: Any) -> str:
    return f"ack {json.dumps(raw, default=repr)[:300]}"


def _public_key_texts(public_key: Any) -> dict[str, bytes]:
    """The texts a server may hold its public key as: what an algorithm-confused server would
    use as the HMAC secret (PEM with and without its final newline; PKCS#1 for RSA)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    texts = {"PEM": pem, "PEM without final newline": pem.rstrip(b"\n")}
    if isinstance(public_key, rsa.RSAPublicKey):
        texts["PKCS#1 PEM"] = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
    return texts


async def _target_public_keys(crm: Crm) -> dict[str | None, Any]:
    """kid → public key: derived from the suite's private key, else read from --jwks-url."""
    import jwt

    tokens = crm.tokens
    if isinstance(tokens, KeyTokens):
        return {tokens.kid: tokens.private_key.public_key()}
    if crm.target.jwks_url is None:
        crm.not_run(
            "algorithm confusion needs the target's public key: give --jwt-private-key, or "
            "--jwks-url with the target's JWKS"
        )
    async with crm.http() as http:
        try:
            document = (await http.get(crm.target.jwks_url)).json()
            keys = jwt.PyJWKSet.from_dict(document).keys
        except Exception as exc:  # any failure to read it: the check cannot run
            crm.not_run(f"cannot read the JWKS at {crm.target.jwks_url}: {exc}")
    wanted = crm.target.algorithms[0]
    found = {k.key_id: k.key for k in keys if k.algorithm_name == wanted}
    if not found:
        crm.not_run(f"the JWKS at {crm.target.jwks_url} has no {wanted} key")
    return found


@pytest.mark.req("AUTH-2")
async def test_public_key_is_no_hs256_secret(crm: Crm) -> None:
    """AUTH-2 (1.1): an RS256/ES256 target refuses HS256 tokens signed with the text of its
    own public key (algorithm confusion), on the socket, over REST and in auth:refresh."""
    algorithm = crm.target.algorithms[0]
    if algorithm not in ("RS256", "ES256"):
        crm.not_run(f"the target verifies {algorithm}, not a public-key algorithm")
    agent = crm.org.agent()
    forged = {
        f"HS256 signed with the public key as {form}" + (f" (kid {kid})" if kid else ""):
            forged_hs256(text, claims_for(agent), kid)
        for kid, key in (await _target_public_keys(crm)).items()
        for form, text in _public_key_texts(key).items()
    }  # fmt: skip
    await _refused_everywhere(crm, agent, forged)


@pytest.mark.req("AUTH-2")
async def test_unknown_kid_is_refused(crm: Crm) -> None:
    """AUTH-2 (1.1): a token signed with the target's own key but naming a `kid` the target
    does not know is refused, not verified with whatever key it holds."""
    tokens = crm.tokens
    if not isinstance(tokens, KeyTokens) or tokens.kid is None:
        crm.not_run("needs the target's key and its kid (--jwt-private-key with --jwt-kid)")
    agent = crm.org.agent()
    unknown = tokens.with_kid(f"{tokens.kid}-unknown-{secrets.token_hex(4)}")
    await _refused_everywhere(crm, agent, {"an unknown kid": unknown.mint(agent)})
