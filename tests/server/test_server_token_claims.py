"""AUTH-2 and §15 identity: claims the store could not keep (NUL, lone surrogates) are refused
as AUTH_INVALID at the door, on the socket and over REST, instead of crashing later."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from e2e_clients import Target, connect_refusal

from harness.client import Org
from harness.spec import AUTH_MESSAGES, ErrorCode
from reference_server.auth import AuthError, SecretVerifier, check_token

SECRET = "claims-secret-" + "0123456789abcdef" * 4
NOW = time.time()
VERIFIER = SecretVerifier(SECRET)
UNSTORABLE = {"NUL": "u\x00x", "lone surrogate": "u\ud800x"}
CLAIMS = ("sub", "teamId", "brokerId", "name")


def _token(secret: str = SECRET, **changes: Any) -> str:
    claims = {"sub": "u1", "teamId": "t1", "brokerId": "b1", "name": "Ann", "exp": NOW + 600}
    return jwt.encode({**claims, **changes}, secret, algorithm="HS256")


@pytest.mark.parametrize("claim", CLAIMS)
@pytest.mark.parametrize("label", sorted(UNSTORABLE))
def test_unstorable_claim_is_invalid(claim: str, label: str) -> None:
    """AUTH-2, §15: a claim with NUL or a lone surrogate is AUTH_INVALID."""
    with pytest.raises(AuthError) as refused:
        check_token(_token(**{claim: UNSTORABLE[label]}), VERIFIER, NOW)
    assert refused.value.code is ErrorCode.AUTH_INVALID


def test_ordinary_unicode_claims_still_pass() -> None:
    """AUTH-2: the check refuses only what cannot be stored; other Unicode is fine."""
    verified = check_token(_token(sub="ü-1", teamId="团队", name="Zoë 🏠"), VERIFIER, NOW)
    assert (verified.actor.user_id, verified.actor.team_id, verified.actor.name) == (
        "ü-1", "团队", "Zoë 🏠",
    )  # fmt: skip


async def test_unstorable_claims_refused_end_to_end(target: Target, org: Org) -> None:
    """AUTH-2: the running server answers REST 401 AUTH_INVALID and refuses the socket with
    Invalid token for a NUL sub and a lone-surrogate teamId; it keeps serving afterwards."""
    agent = org.agent()
    for changes in ({"sub": "u\x00"}, {"teamId": "t\ud800"}):
        token = target.token(agent, extra=changes)
        async with target.http() as http:
            answer = await http.get(
                target.collection("lead"), headers={"Authorization": f"Bearer {token}"}
            )
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "AUTH_INVALID")
        refusal = await connect_refusal(target.url, auth={"token": token})
        code = ErrorCode.AUTH_INVALID
        assert refusal == {"message": AUTH_MESSAGES[code], "data": {"code": code.value}}
    async with target.http() as http:
        fine = await http.get(target.collection("lead"), headers=target.headers(agent))
    assert fine.status_code == 200
