"""§11 AI tasks (AI-1..AI-7): submission, the two task types, the event sequence, failures,
cancellation, records made by a task, and task history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.client import (
    RestClient,
    SubmittedTask,
    TaskProgress,
    cancel_task,
    get_task,
    list_tasks,
    submit_task,
)
from harness.spec import AI_TASK_EVENTS, AI_TASKS_PATH, ClientEvent, ErrorCode, ServerEvent

from ..check_api import Crm
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_FAST_MS = 20  # stepDelayMs for tasks a check only waits on
_SLOW_MS = 1500  # long enough to cancel mid-run
_DONE_S = 10.0
_TASK_FIELDS = {"taskId", "type", "status", "progress", "createdAt"}


def _escrow(**extra: Any) -> dict[str, Any]:
    return {"address": "31 Spruce Road", "purchasePrice": 512000, **extra}


async def _started(crm: Crm, rest: RestClient, task_type: str, params: Any) -> SubmittedTask:
    task = await submit_task(rest, task_type, params)
    expect(task.accepted, f"{task_type} not accepted (202 with a taskId)",
           observed=task.response.body, requirement="AI-1")  # fmt: skip
    return task


async def _finish(progress: TaskProgress, requirement: str) -> str:
    final = await progress.wait_done(_DONE_S)
    expect(final is not None, "no terminal ai:task:* event", requirement=requirement,
           observed=[e.name for e in progress.events])  # fmt: skip
    assert final is not None
    return final.name


@pytest.mark.req("AI-1")
async def test_submit_answers_202_or_400(crm: Crm) -> None:
    """AI-1: a valid submission answers 202 {taskId, status: queued}; an unknown type, params
    that are not an object, or a body that is not an object answer 400."""
    rest = crm.rest(crm.org.agent())
    task = await _started(crm, rest, "create_escrow", _escrow(stepDelayMs=_FAST_MS))
    expect_equal(task.response.data.get("status"), "queued", "status of a new task")
    for body in ({"type": "make_coffee", "params": {}}, {"type": "create_escrow", "params": []},
                 {"type": "import_escrows", "params": "rows"}, ["create_escrow"]):  # fmt: skip
        refused = await rest.raw("POST", AI_TASKS_PATH, json_body=body)
        expect_equal((refused.status, refused.code), (400, ErrorCode.VALIDATION_ERROR.value),
                     f"POST /ai/tasks {body!r}")  # fmt: skip


@pytest.mark.req("AI-2", "AI-6")
async def test_task_types_create_records_via_ai(crm: Crm) -> None:
    """AI-2: create_escrow takes five steps and leaves one escrow owned by the caller
    (result escrowId); import_escrows one step per row (result escrowIds); an empty rows
    list completes at once with []. AI-6: their data events say via ai and the taskId."""
    user, mate = crm.org.team_of(2)
    socket = await crm.client(user, node=0)
    watcher = await crm.client(mate, node=1)
    rest = crm.rest(user)
    single = await _started(crm, rest, "create_escrow", _escrow(stepDelayMs=_FAST_MS))
    rows = [_escrow(address=f"{n} Import Way") for n in (1, 2, 3)]
    batch = await _started(crm, rest, "import_escrows", {"rows": rows, "stepDelayMs": _FAST_MS})
    empty = await _started(crm, rest, "import_escrows", {"rows": []})
    results = {}
    for task in (single, batch, empty):
        progress = TaskProgress(socket, task.task_id)
        expect_equal(await _finish(progress, "AI-2"), ServerEvent.AI_TASK_COMPLETED,
                     "terminal event", requirement="AI-2")  # fmt: skip
        results[task.task_id] = (progress.terminal.get("result") if progress.terminal else {},
                                 progress)  # fmt: skip
    result, progress = results[single.task_id]
    expect_equal({e.get("totalSteps") for e in progress.events if e.name.endswith("progress")},
                 {5}, "create_escrow totalSteps", requirement="AI-2")  # fmt: skip
    escrow = await rest.get("escrow", str((result or {}).get("escrowId")))
    expect(escrow.status == 200 and escrow.record.get("ownerId") == user.user_id
           and escrow.record.get("address") == "31 Spruce Road",
           "create_escrow's escrow (owned by the caller)", observed=escrow.body,
           requirement="AI-2")  # fmt: skip
    batch_ids = (results[batch.task_id][0] or {}).get("escrowIds")
    expect(isinstance(batch_ids, list) and len(batch_ids) == 3, "import_escrows escrowIds",
           observed=batch_ids, requirement="AI-2")  # fmt: skip
    expect_equal((results[empty.task_id][0] or {}).get("escrowIds"), [],
                 "an empty import's result", requirement="AI-2")  # fmt: skip
    crm.exercised("EVT-4", "ai")
    made = {str((result or {}).get("escrowId")): single.task_id}
    made.update({rid: batch.task_id for rid in batch_ids or []})
    for rid, task_id in made.items():
        event = await crm.wait_data_event(watcher, "escrow", "created", rid)
        expect(event is not None, "a task's escrow:created not received by a teammate",
               requirement="AI-6")  # fmt: skip
        expect_equal({k: (event or {}).get(k) for k in ("via", "taskId")},
                     {"via": "ai", "taskId": task_id}, "a task's data event",
                     requirement="AI-6")  # fmt: skip


@pytest.mark.req("AI-3")
async def test_event_sequence(crm: Crm) -> None:
    """AI-3: started {taskId, taskType, message}, then progress with integer progress 0–100
    never decreasing, then exactly one terminal event and nothing after it, all on the
    caller's user: stream; a teammate hears none of it."""
    user, mate = crm.org.team_of(2)
    socket = await crm.client(user, node=0)
    watcher = await crm.client(mate, node=1)
    rows = [_escrow(address=f"{n} Seq St") for n in range(3)]
    task = await _started(crm, crm.rest(user), "import_escrows",
                          {"rows": rows, "stepDelayMs": _FAST_MS})  # fmt: skip
    progress = TaskProgress(socket, task.task_id)
    await _finish(progress, "AI-3")
    await asyncio.sleep(crm.quiet)
    events = progress.events
    expect(events and events[0].name == ServerEvent.AI_TASK_STARTED, "started comes first",
           observed=[e.name for e in events])  # fmt: skip
    first = events[0]
    expect_equal(
        {k: first.get(k) for k in ("taskId", "taskType")},
        {"taskId": task.task_id, "taskType": "import_escrows"},
        "started payload",
    )
    expect(isinstance(first.get("message"), str), "started without a message")
    anomalies = progress.check()
    expect(not anomalies, "AI-3 broken in the task's events",
           observed=[(a.kind.value, a.event, a.detail) for a in anomalies])  # fmt: skip
    steps = [e for e in events if e.name == ServerEvent.AI_TASK_PROGRESS]
    expect({e.get("step") for e in steps} == {1, 2, 3}
           and all(isinstance(e.get("message"), str) and e.get("totalSteps") == 3 for e in steps),
           "progress through one step per row, with message/step/totalSteps",
           observed=[e.payload for e in steps])  # fmt: skip
    expect(all(e.stream == f"user:{user.user_id}" and e.seq for e in events),
           "task events travel on the caller's user: stream with a seq",
           observed=[(e.stream, e.seq) for e in events])  # fmt: skip
    leaked = watcher.received(lambda e: e.name in AI_TASK_EVENTS)
    expect(not leaked, "task events reached another user", observed=[e.name for e in leaked])


@pytest.mark.req("AI-4")
async def test_invalid_input_fails_when_reached(crm: Crm) -> None:
    """AI-4: an invalid row fails import_escrows with VALIDATION_ERROR, details.row and
    details.created (whose records remain); create_escrow without purchasePrice fails at
    step 4 after three progress events; an invalid stepDelayMs fails right after started."""
    user = crm.org.agent()
    socket = await crm.client(user)
    rest = crm.rest(user)
    rows = [_escrow(address="1 Good St"), {"address": "2 No Price St"}, _escrow()]
    bad_row = await _started(crm, rest, "import_escrows", {"rows": rows, "stepDelayMs": 0})
    no_price = await _started(crm, rest, "create_escrow",
                              {"address": "9 Cheap St", "stepDelayMs": _FAST_MS})  # fmt: skip
    bad_delay = await _started(crm, rest, "create_escrow", _escrow(stepDelayMs=-5))
    for task in (bad_row, no_price, bad_delay):
        expect_equal(await _finish(TaskProgress(socket, task.task_id), "AI-4"),
                     ServerEvent.AI_TASK_FAILED, "terminal event of an invalid task")  # fmt: skip
    failed = TaskProgress(socket, bad_row.task_id).terminal
    error = (failed.get("error") if failed else None) or {}
    details = error.get("details") or {}
    expect(error.get("code") == ErrorCode.VALIDATION_ERROR.value and details.get("row") == 1
           and isinstance(details.get("created"), list) and len(details["created"]) == 1,
           "import_escrows failure details {row, created}", observed=error)  # fmt: skip
    kept = await rest.get("escrow", str((details.get("created") or [""])[0]))
    expect_equal(kept.status, 200, "a record created before the failing row remains")
    steps = TaskProgress(socket, no_price.task_id).progress_values
    expect_equal(len(steps), 3, "progress events before create_escrow's validation (step 4)")
    early = TaskProgress(socket, bad_delay.task_id).events
    expect_equal([e.name for e in early], [ServerEvent.AI_TASK_STARTED, ServerEvent.AI_TASK_FAILED],
                 "an invalid stepDelayMs fails right after started")  # fmt: skip


@pytest.mark.req("AI-5")
async def test_cancel_between_steps(crm: Crm) -> None:
    """AI-5: ai:task:cancel and the REST cancel stop a running task before its next step
    (cancelled follows, nothing after, no record made); another user's task is NOT_FOUND; a
    finished task is TASK_FINISHED."""
    user, other = crm.org.agent(), crm.org.agent()
    socket = await crm.client(user, node=0)
    rest = crm.rest(user)
    via_socket = await _started(crm, rest, "create_escrow", _escrow(stepDelayMs=_SLOW_MS))
    via_rest = await _started(crm, rest, "create_escrow", _escrow(stepDelayMs=_SLOW_MS))
    # The REST-cancelled task may still be queued behind the first (a per-user limit of
    # one is fine): cancelling it then is just as valid (§15: only `cancelled` follows).
    await socket.wait_for(lambda e: e.name == ServerEvent.AI_TASK_STARTED
                          and e.get("taskId") == via_socket.task_id, _DONE_S)  # fmt: skip
    foreign = await (await crm.client(other, node=1)).request(
        ClientEvent.AI_TASK_CANCEL, {"taskId": via_socket.task_id}
    )
    expect_equal(foreign.code, ErrorCode.NOT_FOUND.value, "cancelling another user's task")
    foreign_rest = await cancel_task(crm.rest(other), via_socket.task_id)
    expect_equal(foreign_rest.status, 404, "REST cancel of another user's task")
    ack = await TaskProgress(socket, via_socket.task_id).cancel()
    expect(ack.ok and ack.data.get("taskId") == via_socket.task_id and "status" in ack.data,
           "ai:task:cancel ack {ok, taskId, status}", observed=ack.raw)  # fmt: skip
    answer = await cancel_task(rest, via_rest.task_id)
    expect_equal(answer.status, 202, "REST cancel")
    for task in (via_socket, via_rest):
        progress = TaskProgress(socket, task.task_id)
        expect_equal(await _finish(progress, "AI-5"), ServerEvent.AI_TASK_CANCELLED,
                     "terminal event after a cancel")  # fmt: skip
    await asyncio.sleep(_SLOW_MS / 1000 + crm.quiet)
    for task in (via_socket, via_rest):
        progress = TaskProgress(socket, task.task_id)
        expect(not progress.check(), "events after cancelled",
               observed=[e.name for e in progress.events])  # fmt: skip
        expect(len(progress.progress_values) <= 1, "steps ran after the cancel",
               observed=progress.progress_values)  # fmt: skip
    again = await TaskProgress(socket, via_socket.task_id).cancel()
    expect_equal(again.code, ErrorCode.TASK_FINISHED.value, "cancelling a finished task")
    finished_rest = await cancel_task(rest, via_rest.task_id)
    expect_equal((finished_rest.status, finished_rest.code),
                 (409, ErrorCode.TASK_FINISHED.value), "REST cancel, finished task")  # fmt: skip


@pytest.mark.req("AI-7")
async def test_history_and_disconnected_users(crm: Crm) -> None:
    """AI-7: GET /ai/tasks and /ai/tasks/{id} give the caller's tasks (status, progress,
    result, createdAt, finishedAt), never another user's; a task runs to the end though its
    user's only socket closed right after submitting it."""
    user, other = crm.org.agent(), crm.org.agent()
    rest = crm.rest(user)
    socket = await crm.client(user)
    task = await _started(crm, rest, "create_escrow", _escrow(stepDelayMs=_FAST_MS * 5))
    await socket.disconnect()
    theirs = await _started(crm, crm.rest(other), "import_escrows", {"rows": []})
    final: dict[str, Any] = {}
    for _ in range(int(_DONE_S / 0.1)):
        response = await get_task(rest, task.task_id)
        final = response.data if isinstance(response.data, dict) else {}
        if final.get("status") not in ("queued", "running"):
            break
        await asyncio.sleep(0.1)
    expect(set(final) >= _TASK_FIELDS, "task fields", observed=final)
    expect_equal({k: final.get(k) for k in ("taskId", "type", "status", "progress")},
                 {"taskId": task.task_id, "type": "create_escrow", "status": "completed",
                  "progress": 100}, "the finished task over REST")  # fmt: skip
    expect("escrowId" in (final.get("result") or {}) and "finishedAt" in final,
           "result and finishedAt of a completed task", observed=final)  # fmt: skip
    listed = await list_tasks(rest)
    ids = [t.get("taskId") for t in listed.data or []]
    expect(task.task_id in ids and theirs.task_id not in ids,
           "GET /ai/tasks lists the caller's tasks only", observed=ids)  # fmt: skip
    hidden = await get_task(rest, theirs.task_id)
    expect_equal(hidden.status, 404, "GET of another user's task")
