"""MUT-2: the running server forgets idempotency keys once their TTL is over (the app's
lifespan runs `domain.upkeep.KeyPurger`), so the key table does not grow forever."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from e2e_clients import Target, wait_until

from harness.client import Org, TokenFactory
from harness.spec import Limits
from reference_server.config import ServerSettings
from reference_server.launcher import start_server

_TTL_S = 1


def _stored_keys(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "crm.sqlite3") as db:
        (count,) = db.execute("SELECT count(*) FROM idempotency").fetchone()
    return int(count)


async def test_expired_keys_are_purged_while_serving(tmp_path: Path) -> None:
    """MUT-2: a key used once is stored, and gone from the store a few seconds after its
    1 s TTL, with no request in between; the server keeps serving."""
    secret = uuid.uuid4().hex * 2
    settings = ServerSettings(port=0, jwt_secret=secret, data_dir=str(tmp_path),
                              limits=Limits(idempotencyTtlSeconds=_TTL_S))  # fmt: skip
    agent = Org().agent()
    with start_server(settings) as server:
        target = Target(server.url, TokenFactory(secret))
        async with target.http() as http:
            created = await http.post(
                target.collection("lead"), json={"name": "Keyed"},
                headers=target.headers(agent, **{"Idempotency-Key": uuid.uuid4().hex}),
            )  # fmt: skip
            assert created.status_code == 201, created.text
            assert _stored_keys(tmp_path) == 1
            assert await wait_until(lambda: _stored_keys(tmp_path) == 0, 3 * _TTL_S + 3)
            listed = await http.get(target.collection("lead"), headers=target.headers(agent))
            assert listed.json()["total"] == 1
