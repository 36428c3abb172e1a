"""Fixtures of the cluster tests: backends for a module's cluster, and the cluster itself.

Starting three node processes takes seconds, so one cluster serves a whole test module; each
test isolates itself with fresh synthetic users (`Org`), whose streams start empty.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from cluster_sockets import CLUSTER_HEARTBEAT, CLUSTER_LIMITS, CLUSTER_SECRET

from reference_server.cluster import RunningCluster, start_cluster
from tests.conftest import ServiceEndpoint, _pg_execute, _with_database


@dataclass(frozen=True, slots=True)
class ClusterBackends:
    database_url: str
    redis_url: str
    redis_prefix: str


def make_backends(postgres: ServiceEndpoint, redis_server: ServiceEndpoint) -> ClusterBackends:
    name = f"crm_cluster_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(postgres.url, f'CREATE DATABASE "{name}"'))
    return ClusterBackends(
        _with_database(postgres.url, name), redis_server.url, f"crmtest:{uuid.uuid4().hex[:12]}:"
    )


def drop_backends(postgres: ServiceEndpoint, backends: ClusterBackends) -> None:
    name = backends.database_url.rpartition("/")[2]
    asyncio.run(_pg_execute(postgres.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    client = redis.Redis.from_url(backends.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{backends.redis_prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def cluster_backends(
    postgres_server: ServiceEndpoint, redis_server: ServiceEndpoint
) -> Iterator[ClusterBackends]:
    """A database and a Redis prefix for one module's cluster, removed afterwards."""
    backends = make_backends(postgres_server, redis_server)
    try:
        yield backends
    finally:
        drop_backends(postgres_server, backends)


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
