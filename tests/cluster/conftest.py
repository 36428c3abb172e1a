"""Fixtures of the cluster tests: backends for a module's cluster, and the cluster itself.

Starting three node processes takes seconds, so one cluster serves a whole test module; each
test isolates itself with fresh synthetic users (`Org`), whose streams start empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cluster_sockets import CLUSTER_HEARTBEAT, CLUSTER_LIMITS, CLUSTER_SECRET

from reference_server.cluster import RunningCluster, start_cluster
from tests.services import RedisNamespace


@dataclass(frozen=True, slots=True)
class ClusterBackends:
    database_url: str
    redis_url: str
    redis_prefix: str


@pytest.fixture(scope="module")
def cluster_backends(
    module_postgres_url: str, module_redis_namespace: RedisNamespace
) -> ClusterBackends:
    """A database and a Redis prefix for one module's cluster, removed afterwards."""
    ns = module_redis_namespace
    return ClusterBackends(module_postgres_url, ns.url, ns.prefix)


@pytest.fixture(scope="module")
def cluster(cluster_backends: ClusterBackends) -> Iterator[RunningCluster]:
    """Three nodes sharing Redis and PostgreSQL."""
    with start_cluster(
        3,
        cluster_backends.redis_url,
        cluster_backends.database_url,
        redis_prefix=cluster_backends.redis_prefix,
        jwt_secret=CLUSTER_SECRET,
        limits=CLUSTER_LIMITS,
        heartbeat=CLUSTER_HEARTBEAT,
    ) as running:
        yield running
