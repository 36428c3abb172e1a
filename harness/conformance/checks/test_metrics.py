"""§12 Metrics (profile `metrics`): the Prometheus endpoint and its counters move (MET-1), on a
node and, given several node URLs, for the cluster as a whole."""

from __future__ import annotations

import pytest

from harness.client import MetricFamily, NodeFigures, parse_metrics, sum_figures
from harness.spec import METRIC_NAMES, ClientEvent, data_event_name

from ..check_api import Crm
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_GAUGES = {"crm_realtime_connections"}
_EMITTED = "crm_realtime_events_emitted"
_RECEIVED = "crm_realtime_events_received"
_REPLAYED = "crm_realtime_replayed_events"
_CONNECTIONS = "crm_realtime_connections"


async def _scrape(crm: Crm, node: int = 0) -> dict[str, MetricFamily]:
    """The crm_realtime_* families of one node, each of MET-1's five with its type."""
    where = f"node {node + 1} ({crm.url(node)})"
    response = await crm.rest(None, node=node).metrics()
    expect_equal(response.status, 200, f"GET /metrics status of {where}")
    expect(isinstance(response.body, str), f"metrics of {where} must be Prometheus text",
           observed=str(response.body)[:200])  # fmt: skip
    try:
        families = parse_metrics(str(response.body))
    except ValueError as exc:
        expect(False, f"{where}: not the Prometheus text format", str(exc))
        raise
    for name in METRIC_NAMES:
        family = name.removesuffix("_total")
        expect(family in families, f"metric {name} missing on {where}", observed=sorted(families))
        kind = families[family].type
        expect_equal(kind, "gauge" if name in _GAUGES else "counter", f"type of {name} on {where}")
    return families


@pytest.mark.req("MET-1")
async def test_metrics_exposed_and_counting(crm: Crm) -> None:
    """MET-1: /metrics in Prometheus text with the five crm_realtime_* metrics (gauge and
    counters with an `event` label); creating a record and syncing move them."""
    before = await _scrape(crm)
    agent = crm.org.agent()
    client = await crm.client(agent)
    await crm.create(crm.rest(agent), "escrow")
    ack = await client.request(ClientEvent.SYNC, {"cursors": {f"team:{agent.team_id}": 0}})
    expect(ack.ok, "sync refused", observed=ack.raw)
    await client.wait_for("escrow:created", 5.0)
    after = await _scrape(crm)
    created = data_event_name("escrow", "created")
    expect(after[_EMITTED].total(event=created) > before[_EMITTED].total(event=created),
           "events_emitted_total{event=escrow:created} did not rise")  # fmt: skip
    expect(after[_RECEIVED].total(event="sync") > before[_RECEIVED].total(event="sync"),
           "events_received_total{event=sync} did not rise")  # fmt: skip
    expect(after[_REPLAYED].total() > before[_REPLAYED].total(),
           "replayed_events_total did not rise after a replay")  # fmt: skip
    expect(after[_CONNECTIONS].total() >= 1, "connections gauge with a socket")


@pytest.mark.req("MET-1")
async def test_metrics_account_for_the_cluster(crm: Crm) -> None:
    """MET-1 for a cluster: given several node URLs, the sum of the nodes' metrics accounts for
    everything the check caused, wherever it landed. One socket and one created record on
    each node, every socket syncing from 0: the summed gauge holds every socket, the summed
    counters rose by at least one `escrow:created` emit per record, one `sync` received and
    one replayed event per socket. A node that under-reports fails it, even when the node
    the single-node check reads is right."""
    nodes = crm.nodes
    if nodes < 2:
        crm.not_run("needs at least 2 --crm-url nodes of one cluster")
    created = data_event_name("escrow", "created")
    before = [await _scrape(crm, node) for node in range(nodes)]
    agents = crm.org.team_of(nodes)
    clients = [await crm.client(agent, node=i) for i, agent in enumerate(agents)]
    for i, agent in enumerate(agents):
        await crm.create(crm.rest(agent, node=i), "escrow")
    for i, client in enumerate(clients):
        # The emits happened once every socket holds the records; that they reach every node's
        # sockets is CLU-1's to judge, not this check's.
        got = len(await client.wait_for_count(created, nodes, 10.0))
        expect(got >= nodes, f"the socket on node {i + 1} got {got} of the {nodes} records live",
               requirement="CLU-1")  # fmt: skip
    stream = f"team:{agents[0].team_id}"
    for i, client in enumerate(clients):
        ack = await client.request(ClientEvent.SYNC, {"cursors": {stream: 0}})
        expect(ack.ok, f"sync on node {i + 1} refused", observed=ack.raw)
    after = [await _scrape(crm, node) for node in range(nodes)]

    pairs = list(zip(after, before, strict=True))
    rose = {
        "escrow:created emitted": sum(
            a[_EMITTED].total(event=created) - b[_EMITTED].total(event=created) for a, b in pairs
        ),
        "sync received": sum(
            a[_RECEIVED].total(event="sync") - b[_RECEIVED].total(event="sync") for a, b in pairs
        ),
        "replayed": sum(a[_REPLAYED].total() - b[_REPLAYED].total() for a, b in pairs),
    }
    by_node = [NodeFigures.of(a).since(NodeFigures.of(b)) for a, b in pairs]
    observed = {
        "sum": sum_figures(by_node).to_json(),
        **{crm.url(i): f.to_json() for i, f in enumerate(by_node)},
    }
    caused = {"escrow:created emitted": nodes, "sync received": nodes, "replayed": nodes}
    for what, least in caused.items():
        expect(rose[what] >= least,
               f"the nodes' {what} rose by {rose[what]:g} in sum, the check caused {least}",
               "a node under-reports, or counts what another node did not",
               expected=f">= {least}", observed=observed)  # fmt: skip
    connected = sum(a[_CONNECTIONS].total() for a in after)
    expect(connected >= nodes,
           f"the nodes' connections gauges sum to {connected:g} with {nodes} sockets open",
           expected=f">= {nodes}", observed=observed)  # fmt: skip
