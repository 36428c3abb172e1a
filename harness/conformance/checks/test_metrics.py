"""§12 Metrics (profile `metrics`): the Prometheus endpoint and its counters move (MET-1)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.spec import METRIC_NAMES, ClientEvent, data_event_name

from ..check_api import Crm
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio

_GAUGES = {"crm_realtime_connections"}


async def _scrape(crm: Crm) -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    """name → (type, {sorted labels: value}) of the crm_realtime_* families."""
    response = await crm.rest(None).metrics()
    expect_equal(response.status, 200, "GET /metrics status")
    expect(isinstance(response.body, str), "metrics must be Prometheus text",
           observed=str(response.body)[:200])  # fmt: skip
    families: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {}
    try:
        parsed = list(text_string_to_metric_families(str(response.body)))
    except ValueError as exc:
        expect(False, "not the Prometheus text format", str(exc))
        raise
    for family in parsed:
        if not family.name.startswith("crm_realtime_"):
            continue
        samples = {
            tuple(sorted(s.labels.items())): s.value
            for s in family.samples
            if not s.name.endswith("_created")
        }
        families[family.name] = (family.type, samples)
    return families


def _total(family: dict[tuple[tuple[str, str], ...], float], **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for k, v in family.items() if wanted <= set(k))


@pytest.mark.req("MET-1")
async def test_metrics_exposed_and_counting(crm: Crm) -> None:
    """MET-1: /metrics in Prometheus text with the five crm_realtime_* metrics (gauge and
    counters with an `event` label); creating a record and syncing move them."""
    before = await _scrape(crm)
    for name in METRIC_NAMES:
        family = name.removesuffix("_total")
        expect(family in before, f"metric {name} missing", observed=sorted(before))
        kind = before[family][0]
        expect_equal(kind, "gauge" if name in _GAUGES else "counter", f"type of {name}")
    agent = crm.org.agent()
    client = await crm.client(agent)
    await crm.create(crm.rest(agent), "escrow")
    ack = await client.request(ClientEvent.SYNC, {"cursors": {f"team:{agent.team_id}": 0}})
    expect(ack.ok, "sync refused", observed=ack.raw)
    await client.wait_for("escrow:created", 5.0)
    after = await _scrape(crm)
    created = data_event_name("escrow", "created")
    emitted = "crm_realtime_events_emitted"
    received = "crm_realtime_events_received"
    replayed = "crm_realtime_replayed_events"
    expect(_total(after[emitted][1], event=created) > _total(before[emitted][1], event=created),
           "events_emitted_total{event=escrow:created} did not rise")  # fmt: skip
    expect(_total(after[received][1], event="sync") > _total(before[received][1], event="sync"),
           "events_received_total{event=sync} did not rise")  # fmt: skip
    expect(_total(after[replayed][1]) > _total(before[replayed][1]),
           "replayed_events_total did not rise after a replay")  # fmt: skip
    expect(_total(after["crm_realtime_connections"][1]) >= 1, "connections gauge with a socket")
