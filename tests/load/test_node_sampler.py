"""The load engine's scrape of every node's /metrics (the report's cluster view, MET-1)."""

from __future__ import annotations

from collections.abc import Iterator

from harness.client import NodeFigures
from harness.load.node_sampler import NodeSampler
from harness.rundir import NODE_METRICS_KEY


def _scrapes(*rounds: dict[str, NodeFigures | None]) -> Iterator[dict[str, NodeFigures | None]]:
    yield from rounds


def test_counters_as_increases_gauge_as_peaks() -> None:
    """MET-1: emits and refusals as their increase over the run, connections as the peak per
    node and of the sum at one sampling; a node without /metrics stays None."""
    a, b, c = "http://a", "http://b", "http://c"
    rounds = _scrapes(
        {a: NodeFigures(connections=1, events_emitted=10, refusals=2),
         b: NodeFigures(connections=0, events_emitted=5, refusals=0), c: None},
        {a: NodeFigures(connections=4, events_emitted=30, refusals=2),
         b: NodeFigures(connections=3, events_emitted=6, refusals=1), c: None},
        {a: NodeFigures(connections=0, events_emitted=40, refusals=3),
         b: NodeFigures(connections=6, events_emitted=9, refusals=1), c: None},
    )  # fmt: skip
    current: dict[str, NodeFigures | None] = {}

    def scrape(url: str) -> NodeFigures | None:
        return current[url]

    sampler = NodeSampler([a, b, c], interval_s=3600, scrape=scrape)
    current.update(next(rounds))
    sampler.start()
    current.update(next(rounds))
    sampler._sample()  # what the sampling thread does every interval
    current.update(next(rounds))
    measured = sampler.stop()
    assert measured == {
        "nodes": {
            a: {"connections_max": 4, "events_emitted": 30, "refusals": 1},
            b: {"connections_max": 6, "events_emitted": 4, "refusals": 1},
            c: {"connections_max": None, "events_emitted": None, "refusals": None},
        },
        "connections_max": 7,  # 4 + 3 at the middle sampling; 0 + 6 at the end
    }
    assert NODE_METRICS_KEY == "node_metrics"
