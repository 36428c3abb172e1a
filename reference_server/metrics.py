"""Prometheus metrics (MET-1), one registry per app so that several apps share a process."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from harness.spec import CLIENT_EVENTS, DATA_EVENTS, METRIC_NAMES, ServerEvent

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_CONNECTIONS, _EMITTED, _RECEIVED, _RATE_LIMITED, _REPLAYED = METRIC_NAMES
_UNKNOWN_EVENT_LABEL = "unknown"


def _base(name: str) -> str:
    """prometheus-client appends `_total` to counters itself."""
    return name.removesuffix("_total")


@dataclass(slots=True)
class ServerMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    connections: Gauge = field(init=False)
    events_emitted: Counter = field(init=False)
    events_received: Counter = field(init=False)
    rate_limited: Counter = field(init=False)
    replayed_events: Counter = field(init=False)
    outbox_recovered: Counter = field(init=False)
    server_busy: Counter = field(init=False)
    loop_lag: Gauge = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.connections = Gauge(_CONNECTIONS, "Connected sockets on this node", registry=r)
        self.events_emitted = Counter(
            _base(_EMITTED), "Logical server→client emits", ["event"], registry=r
        )
        self.events_received = Counter(
            _base(_RECEIVED), "Client→server events received", ["event"], registry=r
        )
        self.rate_limited = Counter(
            _base(_RATE_LIMITED), "Client events refused by the rate limit", registry=r
        )
        self.replayed_events = Counter(
            _base(_REPLAYED), "Durable events replayed by sync", registry=r
        )
        self.outbox_recovered = Counter(
            "crm_realtime_outbox_recovered",
            "Events this node's outbox relay published because their node had not",
            registry=r,
        )
        # Beyond MET-1: what load shedding refused (LIM-6), by what was refused.
        self.server_busy = Counter(
            "crm_realtime_server_busy", "Connects and REST requests refused SERVER_BUSY",
            ["kind"], registry=r,
        )  # fmt: skip
        # How late the loop runs (`loop_lag.LoopLag`, set by the app): tells a stalled node
        # from a stalled client in a load run (benchmarks/bench_overload.py scrapes it).
        self.loop_lag = Gauge(
            "crm_realtime_loop_lag_seconds",
            "How late this node's event loop runs (worst of the last second)", registry=r,
        )  # fmt: skip
        # Samples at 0 from the start, so a scrape of a fresh node already lists every metric.
        for event in (*DATA_EVENTS, ServerEvent.SESSION_EXPIRED, ServerEvent.SERVER_ERROR):
            self.events_emitted.labels(event)
        for event in (*CLIENT_EVENTS, _UNKNOWN_EVENT_LABEL):
            self.events_received.labels(event)
        for kind in ("connect", "rest"):
            self.server_busy.labels(kind)

    def received(self, event: str) -> None:
        # Unknown names share one label so a client cannot blow up the label cardinality.
        self.events_received.labels(event if event in CLIENT_EVENTS else _UNKNOWN_EVENT_LABEL).inc()

    def refused_busy(self, kind: str) -> None:
        """A connect or a REST request refused SERVER_BUSY (LIM-6)."""
        self.server_busy.labels(kind).inc()

    def emitted(self, event: str) -> None:
        self.events_emitted.labels(event).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
