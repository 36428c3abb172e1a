"""The client library's task tracker judges AI-3 on what a client received: started first,
integer progress 0–100 never decreasing, one terminal event, nothing after it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.client import (
    RealtimeClient,
    ReceivedEvent,
    TaskAnomalyKind,
    TaskProgress,
    TaskSequenceError,
)
from harness.spec import ServerEvent


def _client_with(*events: tuple[str, dict[str, Any]]) -> RealtimeClient:
    client = RealtimeClient("http://127.0.0.1:9", None)
    for name, payload in events:
        client.events.append(ReceivedEvent(name, payload, time.time(), time.perf_counter(), 0))
    return client


def test_a_clean_sequence_has_no_anomalies() -> None:
    """AI-3: started, rising progress, completed: nothing to report; other tasks ignored."""
    client = _client_with(
        (ServerEvent.AI_TASK_STARTED, {"taskId": "t"}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 50}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "other", "progress": 10}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 50}),
        (ServerEvent.AI_TASK_COMPLETED, {"taskId": "t", "result": {}}),
    )
    progress = TaskProgress(client, "t")
    assert progress.check() == []
    assert progress.progress_values == [50, 50]
    assert progress.terminal is not None and progress.terminal.name == "ai:task:completed"


def test_each_kind_of_breakage_is_named() -> None:
    """AI-3: progress before started, a decrease, a non-integer, a second terminal event and
    an event after the terminal one are each reported."""
    client = _client_with(
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 10}),
        (ServerEvent.AI_TASK_STARTED, {"taskId": "t"}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 60}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 40}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 70.5}),
        (ServerEvent.AI_TASK_FAILED, {"taskId": "t", "error": {}}),
        (ServerEvent.AI_TASK_PROGRESS, {"taskId": "t", "progress": 100}),
        (ServerEvent.AI_TASK_CANCELLED, {"taskId": "t"}),
    )
    progress = TaskProgress(client, "t")
    with pytest.raises(TaskSequenceError) as raised:
        progress.assert_valid()
    assert "progress-decreased" in str(raised.value)
    assert [a.kind for a in raised.value.anomalies] == [
        TaskAnomalyKind.BEFORE_STARTED,
        TaskAnomalyKind.PROGRESS_DECREASED,
        TaskAnomalyKind.BAD_PROGRESS,
        TaskAnomalyKind.AFTER_TERMINAL,
        TaskAnomalyKind.SEVERAL_TERMINALS,
    ]


def test_cancelled_while_queued_is_only_cancelled() -> None:
    """§15: a task cancelled while queued emits only `cancelled`; that is no anomaly."""
    client = _client_with((ServerEvent.AI_TASK_CANCELLED, {"taskId": "q"}))
    assert TaskProgress(client, "q").check() == []
