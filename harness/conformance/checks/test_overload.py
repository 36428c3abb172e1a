"""§9 Overload (LIM-6, a SHOULD: a miss is non-strict, never fail).

The suite cannot overload an arbitrary server. What it can do is find a node's connection
budget when it is small: open sockets on node 0 one by one (at most `MAX_OVERLOAD_SOCKETS`)
until one is refused, then judge the refusal and the sockets held meanwhile. A node that takes
them all is reported not-run, with the reason. Overload by CPU (a node whose loop lags) is
measured by load runs (`crm-harness load` counts SERVER_BUSY refusals apart from errors).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from harness.client import ConnectFailure, RealtimeClient
from harness.spec import AUTH_MESSAGES, ClientEvent, ErrorCode

from ..check_api import Crm, sample_record
from ..failures import expect

pytestmark = pytest.mark.asyncio

# Sockets the check opens on one node at most, looking for its budget.
MAX_OVERLOAD_SOCKETS = 40
_BUSY = ErrorCode.SERVER_BUSY


def _busy_refusal_problems(failure: ConnectFailure) -> list[str]:
    """What is wrong with a refusal as a LIM-6 one (AUTH-2 form, `data.retryAfterMs` set)."""
    raw = failure.raw if isinstance(failure.raw, dict) else {}
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    retry = data.get("retryAfterMs")
    problems = []
    if failure.message != AUTH_MESSAGES[_BUSY]:
        problems.append(f"message {failure.message!r}, not {AUTH_MESSAGES[_BUSY]!r}")
    if failure.code != _BUSY.value:
        problems.append(f"code {failure.code!r}, not {_BUSY.value}")
    if isinstance(retry, bool) or not isinstance(retry, int | float) or not retry > 0:
        problems.append(f"data.retryAfterMs {retry!r}, not a number > 0")
    return problems


async def _held_keep_working(crm: Crm, held: list[RealtimeClient], hold_s: float) -> None:
    """LIM-6: sockets held while new connects are refused keep heartbeats (connected after
    `hold_s` of refusals), acks and deliveries (a change by one reaches the others)."""
    dropped = [i for i, c in enumerate(held) if not c.connected]
    expect(not dropped, "sockets the node held were dropped while it refused new ones",
           observed={"dropped": len(dropped), "held": len(held)}, requirement="LIM-6")  # fmt: skip
    sender, receivers = held[0], held[1:]
    marks = [r.mark() for r in receivers]
    ack = await sender.request(ClientEvent.MUTATE, {
        "mutationId": uuid.uuid4().hex, "op": "create", "entityType": "lead",
        "changes": sample_record("lead", name=f"Busy {uuid.uuid4().hex[:6]}"),
    }, timeout=10.0)  # fmt: skip
    expect(ack.ok, "a held socket's mutate was not acknowledged while the node was busy",
           observed=ack.raw, requirement="LIM-6")  # fmt: skip
    entity_id = (ack.raw.get("data") or {}).get("id") if isinstance(ack.raw, dict) else None
    missed = 0
    for receiver, mark in zip(receivers, marks, strict=True):
        got = await crm.wait_data_event(receiver, "lead", "created", str(entity_id), since=mark,
                                        timeout=10.0)  # fmt: skip
        missed += got is None
    expect(missed == 0, "held sockets missed a teammate's change while the node was busy",
           observed={"missed": missed, "receivers": len(receivers), "held_s": round(hold_s, 1)},
           requirement="LIM-6")  # fmt: skip


@pytest.mark.req("LIM-6")
async def test_overload_refuses_new_connects_and_keeps_held_ones(crm: Crm) -> None:
    """LIM-6 (SHOULD: a miss is non-strict): opening sockets of one team on node 0, one by
    one, until the node refuses one. A refusal other than `Server busy` / `SERVER_BUSY` with
    `data.retryAfterMs` is flagged; so are held sockets that drop, or lose acks or deliveries,
    while new connects are refused through a heartbeat round. A node that takes all
    `MAX_OVERLOAD_SOCKETS` cannot be overloaded by a conformance run: not-run."""
    agents = crm.org.team_of(MAX_OVERLOAD_SOCKETS + 1)
    held: list[RealtimeClient] = []
    refusal: ConnectFailure | None = None
    for agent in agents:
        client = crm.realtime(agent, node=0)
        refusal = await client.try_connect()
        if refusal is not None:
            break
        held.append(client)
    if refusal is None:
        crm.not_run(
            f"node 0 took all {len(held)} sockets opened: the suite cannot overload an arbitrary "
            "server; give the target a small connection budget (reference server: "
            f"--max-connections ≤ {MAX_OVERLOAD_SOCKETS}) to check its shedding"
        )
    if len(held) < 2:
        crm.not_run(f"node 0 refused socket {len(held) + 1} ({refusal.message}): too few held "
                    "to check that they keep working")  # fmt: skip
    problems = _busy_refusal_problems(refusal)
    expect(not problems, f"socket {len(held) + 1} refused, but not as a busy node",
           "; ".join(problems), expected={"message": AUTH_MESSAGES[_BUSY],
           "data": {"code": _BUSY.value, "retryAfterMs": "n > 0"}}, observed=refusal.raw,
           requirement="LIM-6")  # fmt: skip
    # Refusals for a heartbeat round (pingInterval + pingTimeout, within --crm-max-wait): a
    # node that lets its held sockets' heartbeats fail drops them in that time.
    beat = crm.target.heartbeat
    hold_s = min((beat.pingInterval + beat.pingTimeout) / 1000 + 1.0, crm.target.max_wait_s)
    deadline = time.monotonic() + hold_s
    while time.monotonic() < deadline:
        again = await crm.realtime(crm.org.agent(), node=0).try_connect()
        expect(again is not None and not _busy_refusal_problems(again),
               "a connect while the node was busy was not refused as busy",
               observed=again.raw if again else "connected", requirement="LIM-6")  # fmt: skip
        await asyncio.sleep(0.2)
    await _held_keep_working(crm, held, hold_s)
    retry = refusal.raw["data"]["retryAfterMs"]
    crm.remark("LIM-6", f"node 0 held {len(held)} sockets and refused the next SERVER_BUSY "
               f"(retryAfterMs {retry}); the held ones kept heartbeats, acks and deliveries "
               f"through {hold_s:.1f} s of refusals")  # fmt: skip
