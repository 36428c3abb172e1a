"""Socket mutations: MUT-1..3 (and EVT-4's via)."""

from __future__ import annotations

import asyncio

from e2e_clients import Target

from harness.client import Org
from harness.spec import REDACTED, ClientEvent, ErrorCode


async def test_mutate_every_op(target: Target, org: Org) -> None:
    """MUT-1, EVT-4: create/update/archive/restore/delete over the socket, acks with the record
    (redacted for the caller) or {"id"}, events with via "socket"."""
    owner, mate = org.team_of(2)
    live, mate_s = await target.live(owner), await target.live(mate)
    try:

        async def mutate(mutation_id: str, **fields: object) -> dict[str, object]:
            ack: dict[str, object] = await live.call(
                ClientEvent.MUTATE, {"mutationId": mutation_id, "entityType": "escrow", **fields}
            )
            return ack

        created = await mutate("m1", op="create", changes={"address": "5 Pine", "myCommission": 3})
        assert created["ok"] is True and created["duplicate"] is False
        record = created["data"]
        assert isinstance(record, dict) and record["myCommission"] == 3
        rid = record["id"]
        updated = await mutate("m2", op="update", id=rid, changes={"status": "closed"},
                               expectedVersion=1)  # fmt: skip
        assert updated["ok"] is True
        stale = await mutate("m3", op="update", id=rid, changes={"status": "open"},
                             expectedVersion=1)  # fmt: skip
        assert stale["error"]["code"] == ErrorCode.VERSION_CONFLICT  # type: ignore[index]
        assert (await mutate("m4", op="archive", id=rid))["ok"] is True
        assert (await mutate("m5", op="restore", id=rid))["ok"] is True
        deleted = await mutate("m6", op="delete", id=rid)
        assert deleted == {"ok": True, "data": {"id": rid}, "duplicate": False}
        names = ["escrow:created", "escrow:updated", "escrow:archived", "escrow:restored",
                 "escrow:deleted"]  # fmt: skip
        for name in names:
            (event,) = await mate_s.wait_for(name)
            assert event["via"] == "socket"
        assert mate_s.of("escrow:created")[0]["changes"]["myCommission"] == REDACTED
    finally:
        await live.close()
        await mate_s.close()


async def test_mutate_bad_shapes(target: Target, org: Org) -> None:
    """MUT-1, LIM-5, §15: missing mutationId, bad op/type/id, invalid changes → VALIDATION_ERROR
    naming the field; nothing is created."""
    agent = org.agent()
    live = await target.live(agent)
    try:
        good = {"mutationId": "x1", "op": "create", "entityType": "lead", "changes": {"name": "n"}}
        for change, field in [
            ({"mutationId": None}, "mutationId"),
            ({"mutationId": ""}, "mutationId"),
            ({"op": "explode"}, "op"),
            ({"entityType": "boat"}, "entityType"),
            ({"op": "update", "id": None}, "id"),
            ({"changes": {"name": 5}}, "name"),
        ]:
            ack = await live.call(ClientEvent.MUTATE, {**good, **change})
            assert ack["error"]["code"] == ErrorCode.VALIDATION_ERROR, change
            assert ack["error"]["details"]["field"] == field, change
        not_object = await live.call(ClientEvent.MUTATE, [1, 2])
        assert not_object["error"]["code"] == ErrorCode.VALIDATION_ERROR
        async with target.http() as http:
            listed = await http.get(target.collection("lead"), headers=target.headers(agent))
        assert listed.json()["total"] == 0
    finally:
        await live.close()


async def test_mutation_ids_are_idempotent(target: Target, org: Org) -> None:
    """MUT-2, MUT-3: a repeated mutationId returns the original with duplicate=true and emits
    nothing; concurrent repeats change the data once; a queue flushed twice applies once."""
    agent = org.agent()
    live = await target.live(agent)
    try:
        queue = [
            {
                "mutationId": f"q{i}",
                "op": "create",
                "entityType": "lead",
                "changes": {"name": f"q{i}"},
            }
            for i in range(4)
        ]
        first = await asyncio.gather(*(live.call(ClientEvent.MUTATE, m) for m in queue + queue))
        assert all(a["ok"] for a in first)
        assert sorted(a["duplicate"] for a in first) == [False] * 4 + [True] * 4
        await live.close()
        again = await target.live(agent)
        try:
            replay = [await again.call(ClientEvent.MUTATE, m) for m in queue]
            assert all(a["duplicate"] for a in replay)
            assert {a["data"]["id"] for a in replay} == {a["data"]["id"] for a in first}
            sync = await again.call(ClientEvent.SYNC, {"cursors": {agent.streams[1]: 0}})
            assert sync["streams"][agent.streams[1]] == {"head": 4, "replayed": 4}
            reused = await again.call(
                ClientEvent.MUTATE, {**queue[0], "changes": {"name": "different"}}
            )
            assert reused["error"]["code"] == ErrorCode.IDEMPOTENCY_KEY_REUSED
        finally:
            await again.close()
    finally:
        await live.close()
