"""A node's /metrics read into figures, and the sum a cluster view shows (MET-1)."""

from __future__ import annotations

import pytest

from harness.client import NodeFigures, parse_metrics, sum_figures

EXPOSITION = """\
# HELP crm_realtime_connections Connected sockets on this node
# TYPE crm_realtime_connections gauge
crm_realtime_connections 3.0
# TYPE crm_realtime_events_emitted_total counter
crm_realtime_events_emitted_total{event="escrow:created"} 5.0
crm_realtime_events_emitted_total{event="lead:updated"} 2.0
crm_realtime_events_emitted_created{event="escrow:created"} 1.7e9
# TYPE crm_realtime_events_received_total counter
crm_realtime_events_received_total{event="sync"} 4.0
# TYPE crm_realtime_rate_limited_total counter
crm_realtime_rate_limited_total 1.0
# TYPE crm_realtime_server_busy_total counter
crm_realtime_server_busy_total{kind="connect"} 2.0
# TYPE other_metric gauge
other_metric 9.0
"""


def test_families_and_figures() -> None:
    """MET-1: families by name without `_total`, `_created` samples left out, labels summed or
    picked; refusals are the rate limit and the busy refusals together."""
    families = parse_metrics(EXPOSITION)
    assert "other_metric" not in families
    emitted = families["crm_realtime_events_emitted"]
    assert emitted.type == "counter"
    assert emitted.total() == 7 and emitted.total(event="escrow:created") == 5
    figures = NodeFigures.of(families)
    assert figures == NodeFigures(connections=3, events_emitted=7, events_received=4,
                                  replayed=None, refusals=3)  # fmt: skip


def test_since_sum_and_json() -> None:
    """Counters as increases (a reset node counts from 0), the gauge as now; the sum over the
    nodes that expose a figure; integers stay integers in JSON."""
    before = NodeFigures(connections=9, events_emitted=10, refusals=4)
    now = NodeFigures(connections=2, events_emitted=15, refusals=1)
    delta = now.since(before)
    assert delta == NodeFigures(connections=2, events_emitted=5, refusals=1)
    total = sum_figures([delta, NodeFigures(connections=1, events_emitted=2)])
    assert total.to_json() == {"connections": 3, "events_emitted": 7, "events_received": None,
                               "replayed": None, "refusals": 1}  # fmt: skip
    assert NodeFigures.from_json(total.to_json()) == total


def test_not_prometheus_text() -> None:
    with pytest.raises(ValueError):
        parse_metrics("crm_realtime_connections {not valid\n")
