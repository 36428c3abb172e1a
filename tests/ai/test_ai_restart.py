"""A task whose node crashed is failed when the node starts again, and the user learns it
from their stream (AI-3, AI-7, CLU-2): nothing is left `running` forever."""

from __future__ import annotations

import secrets

import pytest

from harness.client import Org, RealtimeClient, RestClient, TokenFactory, get_task, submit_task
from harness.spec import ServerEvent
from reference_server.launcher import start_server


@pytest.mark.slow
async def test_crash_mid_task_fails_it_on_restart() -> None:
    """AI-7: kill -9 while a task runs; after the restart its status is failed (INTERNAL)
    and `sync` replays started then failed on the user's stream."""
    secret = secrets.token_hex(16)
    user = Org().agent()
    token = TokenFactory(secret).mint(user)
    with start_server(jwt_secret=secret) as server:
        async with RestClient(server.url, token) as rest, RealtimeClient(server.url, token) as rt:
            task = await submit_task(rest, "create_escrow",
                                     {"address": "5 Crash Ct", "purchasePrice": 9,
                                      "stepDelayMs": 5000})  # fmt: skip
            assert task.accepted
            assert await rt.wait_for(ServerEvent.AI_TASK_STARTED, 5) is not None
        server.kill()
        server.start()
        async with RestClient(server.url, token) as rest, RealtimeClient(server.url, token) as rt:
            after = (await get_task(rest, task.task_id)).data
            assert after["status"] == "failed" and after["error"]["code"] == "INTERNAL"
            ack = await rt.sync({f"user:{user.user_id}": 0})
            assert ack.ok, ack.raw
            names = [e.name for e in rt.received(lambda e: e.get("taskId") == task.task_id)]
            assert names == [ServerEvent.AI_TASK_STARTED, ServerEvent.AI_TASK_FAILED]
