"""A node's `/metrics` (MET-1) read once into figures, and the cluster view that sums them.

Behind a load balancer `/metrics` answers for whichever node took the request, so a cluster is
only seen whole from every node's own URL: the conformance suite, the load engine and their
reports scrape each node and put the figures side by side with their sum. Parsing lives here
alone; MET-1's check reads the families, the reports read `NodeFigures`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.spec import METRICS_PATH

from ._connection import ConnectionOptions

__all__ = [
    "MetricFamily",
    "NodeFigures",
    "parse_metrics",
    "scrape_node",
    "sum_figures",
]

_PREFIX = "crm_realtime_"
_CONNECTIONS = "crm_realtime_connections"
_EMITTED = "crm_realtime_events_emitted"
_RECEIVED = "crm_realtime_events_received"
_REPLAYED = "crm_realtime_replayed_events"
# Refusals: MET-1's rate limit, and the reference server's load shedding (LIM-6) when exposed.
_REFUSALS = ("crm_realtime_rate_limited", "crm_realtime_server_busy")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One `crm_realtime_*` family: its type and its samples by sorted label pairs."""

    type: str
    samples: Mapping[Labels, float]

    def total(self, **labels: str) -> float:
        """The sum of the samples carrying at least these labels."""
        wanted = set(labels.items())
        return sum(v for k, v in self.samples.items() if wanted <= set(k))


def parse_metrics(text: str) -> dict[str, MetricFamily]:
    """The `crm_realtime_*` families of a Prometheus text exposition, by family name (counters
    without `_total`, as the parser names them); ValueError when the text is not that format."""
    families: dict[str, MetricFamily] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(_PREFIX):
            continue
        samples = {
            tuple(sorted(s.labels.items())): s.value
            for s in family.samples
            if not s.name.endswith("_created")
        }
        families[family.name] = MetricFamily(family.type, samples)
    return families


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """What a cluster view shows of one node (or of their sum). `connections` is the gauge;
    the others are counters: absolute in a scrape, increases after `since`. None: the node
    does not expose that metric."""

    connections: float | None = None
    events_emitted: float | None = None
    events_received: float | None = None
    replayed: float | None = None
    refusals: float | None = None

    @classmethod
    def of(cls, families: Mapping[str, MetricFamily]) -> NodeFigures:
        def total(*names: str) -> float | None:
            present = [families[n].total() for n in names if n in families]
            return sum(present) if present else None

        return cls(
            connections=total(_CONNECTIONS),
            events_emitted=total(_EMITTED),
            events_received=total(_RECEIVED),
            replayed=total(_REPLAYED),
            refusals=total(*_REFUSALS),
        )

    def since(self, before: NodeFigures) -> NodeFigures:
        """Counters as their increase since `before` (a restarted node's reset counts from 0);
        the gauge as it is now."""

        def delta(now: float | None, then: float | None) -> float | None:
            if now is None:
                return None
            return now - then if then is not None and now >= then else now

        return NodeFigures(
            connections=self.connections,
            events_emitted=delta(self.events_emitted, before.events_emitted),
            events_received=delta(self.events_received, before.events_received),
            replayed=delta(self.replayed, before.replayed),
            refusals=delta(self.refusals, before.refusals),
        )

    def to_json(self) -> dict[str, Any]:
        return {f.name: _number(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: object) -> NodeFigures:
        if not isinstance(data, Mapping):
            return cls()
        values = {f.name: data.get(f.name) for f in fields(cls)}
        return cls(**{k: float(v) if isinstance(v, int | float) else None
                      for k, v in values.items()})  # fmt: skip


def sum_figures(figures: Iterable[NodeFigures]) -> NodeFigures:
    """Field by field over the nodes that expose it; None when none does."""
    items = list(figures)

    def total(name: str) -> float | None:
        present = [v for f in items if (v := getattr(f, name)) is not None]
        return sum(present) if present else None

    return NodeFigures(**{f.name: total(f.name) for f in fields(NodeFigures)})


def _number(value: float | None) -> float | int | None:
    """Counts stay integers in JSON; a gauge averaged by some exporter keeps its fraction."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 3)


def scrape_node(
    url: str, options: ConnectionOptions | None = None, *, timeout: float = 5.0
) -> NodeFigures | None:
    """One node's figures now; None when it does not answer `/metrics` in the Prometheus text
    format (a cluster view shows what it can: a report must not fail for a missing endpoint)."""
    options = options or ConnectionOptions()
    try:
        response = httpx.get(
            url.rstrip("/") + METRICS_PATH, timeout=timeout, headers=options.header_map(),
            verify=options.ssl_context(),
        )  # fmt: skip
        if response.status_code != 200:
            return None
        return NodeFigures.of(parse_metrics(response.text))
    except (httpx.HTTPError, ValueError):
        return None
