"""Authentication over the wire: AUTH-1..4 (socket handshake, REST, expiry, refresh)."""

from __future__ import annotations

import asyncio
import time

import jwt
from e2e_clients import Target, connect, connect_refusal, wait_until

from harness.client import Org
from harness.spec import AUTH_MESSAGES, ClientEvent, ErrorCode, ServerEvent


def _refusal(code: ErrorCode) -> dict[str, object]:
    return {"message": AUTH_MESSAGES[code], "data": {"code": code.value}}


async def test_token_from_auth_or_header(target: Target, org: Org) -> None:
    """AUTH-1, §15: auth.token or Authorization: Bearer; auth.token wins; other schemes fail."""
    agent = org.agent()
    good = target.token(agent)
    via_header = await connect(target.url, headers={"Authorization": f"Bearer {good}"})
    await via_header.close()
    wins = await connect_refusal(
        target.url, auth={"token": "garbage"}, headers={"Authorization": f"Bearer {good}"}
    )
    assert wins == _refusal(ErrorCode.AUTH_INVALID)
    basic = await connect_refusal(target.url, headers={"Authorization": "Basic dTpw"})
    assert basic == _refusal(ErrorCode.AUTH_INVALID)


_UNSIGNED_CLAIMS = {"sub": "x", "teamId": "t", "brokerId": "b", "exp": int(time.time()) + 600}


async def test_connect_refusals(target: Target, org: Org) -> None:
    """AUTH-2: CONNECT_ERROR {"message", "data": {"code"}} for each refusal."""
    agent = org.agent()
    cases = {
        ErrorCode.AUTH_REQUIRED: [None, {"token": ""}],
        ErrorCode.AUTH_INVALID: [
            {"token": "not-a-jwt"},
            {"token": jwt.encode({"sub": "x", "exp": time.time() + 60}, "wrong-secret" * 4)},
            {"token": target.token(agent, omit=("teamId",))},
            {
                "token": jwt.encode(
                    {"sub": "x", "teamId": "t", "brokerId": "b", "exp": int(time.time()) + 60},
                    None,
                    algorithm="none",
                )
            },
        ],
        ErrorCode.AUTH_EXPIRED: [{"token": target.token(agent, ttl_seconds=-5)}],
    }
    for code, auths in cases.items():
        for auth in auths:
            assert await connect_refusal(target.url, auth=auth) == _refusal(code), auth


async def test_rest_answers_401_with_same_codes(target: Target, org: Org) -> None:
    """AUTH-2: REST answers 401 with AUTH_REQUIRED / AUTH_INVALID / AUTH_EXPIRED."""
    agent = org.agent()
    path = target.collection("lead")
    async with target.http() as http:
        for headers, code in [
            ({}, ErrorCode.AUTH_REQUIRED),
            ({"Authorization": "Bearer nope"}, ErrorCode.AUTH_INVALID),
            ({"Authorization": f"Bearer {target.token(agent, ttl_seconds=-5)}"},
             ErrorCode.AUTH_EXPIRED),
        ]:  # fmt: skip
            response = await http.get(path, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == code


async def test_session_expiry_and_refresh(target: Target, org: Org) -> None:
    """AUTH-3, AUTH-4: an expiring socket gets session:expired and is dropped within 2 s after
    exp; a refreshed one stays; a refresh for another identity is refused and changes nothing."""
    agent = org.agent()
    short = target.token(agent, ttl_seconds=2)
    exp = jwt.decode(short, options={"verify_signature": False})["exp"]
    expiring = await connect(target.url, short)
    refreshed = await connect(target.url, target.token(agent, ttl_seconds=2))
    try:
        other = org.agent()
        refused = await refreshed.call(ClientEvent.AUTH_REFRESH, {"token": target.token(other)})
        assert refused["error"]["code"] == ErrorCode.AUTH_INVALID
        expired = await refreshed.call(
            ClientEvent.AUTH_REFRESH, {"token": target.token(agent, ttl_seconds=-5)}
        )
        assert expired["error"]["code"] == ErrorCode.AUTH_EXPIRED
        bad_shape = await refreshed.call(ClientEvent.AUTH_REFRESH, {"token": 5})
        assert bad_shape["error"]["code"] == ErrorCode.VALIDATION_ERROR
        ok = await refreshed.call(
            ClientEvent.AUTH_REFRESH, {"token": target.token(agent, ttl_seconds=600)}
        )
        assert ok["ok"] is True and ok["exp"] > time.time() + 500
        assert await wait_until(lambda: expiring.disconnected_at is not None, within=6)
        assert time.time() <= exp + 2
        (notice,) = expiring.of(ServerEvent.SESSION_EXPIRED)
        assert notice["code"] == ErrorCode.AUTH_EXPIRED and "timestamp" in notice
        await asyncio.sleep(max(0.0, exp + 1 - time.time()))
        assert refreshed.client.connected
        assert (await refreshed.call(ClientEvent.SYNC, {"cursors": {}}))["ok"] is True
    finally:
        await expiring.close()
        await refreshed.close()
