"""MET-1 for a cluster as a whole: a node that under-reports (`MET-1/under-report`, see
core_wire_faults) fails the cluster-wide check, while the single-node check, which reads
node 1, passes; without the fault both pass and the report shows each node and the sum."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_verdicts import SHORT_LIMITS, FaultyServer

from harness.client import TargetConnection, TokenFactory
from harness.conformance import RunResult, Verdict, run
from reference_server.cluster import RunningCluster, start_cluster
from tests.services import RedisNamespace

SECRET = "cluster-metrics-fault-secret-0123456789abcdef"
UNDER_REPORT = "MET-1/under-report"
SINGLE_NODE_CHECK = "test_metrics_exposed_and_counting"
CLUSTER_CHECK = "test_metrics_account_for_the_cluster"


@pytest.fixture(scope="module")
def two_nodes(
    module_postgres_url: str, module_redis_namespace: RedisNamespace
) -> Iterator[RunningCluster]:
    """Two nodes of one cluster, each started through the fault entry point."""
    ns = module_redis_namespace
    with start_cluster(2, ns.url, module_postgres_url, redis_prefix=ns.prefix,
                       jwt_secret=SECRET, limits=SHORT_LIMITS,
                       node_class=FaultyServer) as cluster:  # fmt: skip
        yield cluster


def _met1(cluster: RunningCluster, keyword: str, report_dir: Path | None = None) -> RunResult:
    connection = TargetConnection(tuple(cluster.urls), TokenFactory(SECRET))
    outcome = run(connection, requirement_ids=["MET-1"], keyword=keyword, quiet_s=0.3,
                  report_dir=report_dir, extra_pytest_args=["-p", "no:timeout"])  # fmt: skip
    assert outcome.errors == [], outcome.errors
    return outcome


def _node(cluster: RunningCluster, index: int) -> FaultyServer:
    node = cluster.nodes[index]
    assert isinstance(node, FaultyServer)
    return node


def test_cluster_metrics_check_passes_and_reports_every_node(
    two_nodes: RunningCluster, tmp_path: Path
) -> None:
    """MET-1: with no fault the cluster-wide check passes; the report's node view has a row
    per node and their sum, in which each node's emits and deliveries show."""
    outcome = _met1(two_nodes, CLUSTER_CHECK, tmp_path)
    assert outcome.verdicts() == {"MET-1": Verdict.PASS}
    assert outcome.result is not None
    rows = outcome.result.nodes
    assert list(rows) == [*two_nodes.urls, "sum"]
    for url in two_nodes.urls:
        assert rows[url]["events_emitted"] >= 1, rows  # one record created through each node
        assert rows[url]["deliveries"] >= 2, rows  # both records reached its socket
    for key in ("events_emitted", "events_received", "replayed", "deliveries"):
        assert rows["sum"][key] == sum(rows[url][key] for url in two_nodes.urls), key
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Nodes</h2>" in page and all(url in page for url in two_nodes.urls)


def test_under_reporting_node_fails_only_the_cluster_check(two_nodes: RunningCluster) -> None:
    """MET-1: node 2 exports figures that never move. The single-node check reads node 1 and
    passes; the check over every node's sum fails."""
    faulty = _node(two_nodes, 1)
    faulty.set_faults([UNDER_REPORT])
    try:
        single = _met1(two_nodes, SINGLE_NODE_CHECK)
        whole = _met1(two_nodes, CLUSTER_CHECK)
    finally:
        faulty.set_faults([])
    assert single.verdicts() == {"MET-1": Verdict.PASS}
    assert whole.verdicts() == {"MET-1": Verdict.FAIL}
    assert whole.result is not None
    reason = whole.result.requirements["MET-1"].reason
    assert "in sum, the check caused" in reason, reason
