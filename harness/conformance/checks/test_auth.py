"""§3 Authentication: where the token goes, refusals, expiry, refresh (AUTH-1..AUTH-4)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from harness.client import Agent, RealtimeClient, TokenFactory
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


def _bad_tokens(crm: Crm, agent: Agent) -> dict[str, tuple[str | None, ErrorCode]]:
    """Label → (token, expected code), per AUTH-2 and §15."""
    return {
        "no token": (None, ErrorCode.AUTH_REQUIRED),
        "empty token": ("", ErrorCode.AUTH_REQUIRED),
        "bad signature": (TokenFactory("not-" + crm.target.secret).mint(agent),
                          ErrorCode.AUTH_INVALID),
        "malformed": ("abc.def", ErrorCode.AUTH_INVALID),
        "alg none": (_unsigned_token(agent), ErrorCode.AUTH_INVALID),
        "alg HS512": (TokenFactory(crm.target.secret, "HS512").mint(agent),
                      ErrorCode.AUTH_INVALID),
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
    missing, forged, malformed, unsigned, HS512, incomplete, ill-typed, not-yet-valid or
    expired token (§15 decides the edge cases)."""
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


async def _expiring_client(crm: Crm, agent: Agent, ttl: float) -> tuple[RealtimeClient, float]:
    token = crm.token(agent, ttl_seconds=ttl)
    exp = float(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["exp"])
    client = await crm.client(agent, token=token, from_heads=False)
    return client, exp


@pytest.mark.req("AUTH-3")
async def test_expired_session_is_told_and_closed(crm: Crm) -> None:
    """AUTH-3: at exp the socket gets session:expired {code: AUTH_EXPIRED, timestamp} and is
    disconnected within 2 s."""
    client, exp = await _expiring_client(crm, crm.org.agent(), 2.5)
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
    kept_agent, refused_agent = crm.org.agent(), crm.org.agent()
    kept, old_exp = await _expiring_client(crm, kept_agent, 2.5)
    refused, refused_exp = await _expiring_client(crm, refused_agent, 2.5)
    new_token = crm.token(kept_agent, ttl_seconds=3600, extra={"name": "Renamed Agent"})
    ack = await kept.request(ClientEvent.AUTH_REFRESH, {"token": new_token})
    new_exp = json.loads(base64.urlsafe_b64decode(new_token.split(".")[1] + "==="))["exp"]
    expect_equal(ack.raw, {"ok": True, "exp": new_exp}, "auth:refresh ack")
    other = crm.org.agent()
    attempts = {
        "another sub": (crm.token(other), ErrorCode.AUTH_INVALID),
        "another team": (crm.token(Agent(refused_agent.user_id, other.team_id,
                                         refused_agent.broker_id, "x")), ErrorCode.AUTH_INVALID),
        "another broker": (crm.token(Agent(refused_agent.user_id, refused_agent.team_id,
                                           other.broker_id, "x")), ErrorCode.AUTH_INVALID),
        "expired": (crm.token(refused_agent, ttl_seconds=-5), ErrorCode.AUTH_EXPIRED),
        "forged": (TokenFactory("x" + crm.target.secret).mint(refused_agent),
                   ErrorCode.AUTH_INVALID),
    }  # fmt: skip
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
