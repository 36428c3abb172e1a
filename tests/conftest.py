"""Backing services for the project's own tests: PostgreSQL and Redis.

Where a Docker engine answers, testcontainers starts throwaway servers; where none does (these
CI machines), the tests fall back to the servers on 127.0.0.1 and the run header says so. Each
test gets its own PostgreSQL database and its own Redis key prefix, removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.pki import TlsFiles, make_pki

LOCAL_POSTGRES = os.environ.get(
    "CRM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LOCAL_REDIS = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _docker_engine_available() -> bool:
    if os.environ.get("CRM_TEST_NO_DOCKER") or not shutil.which("docker"):
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    url: str
    source: str  # "testcontainers" or "local"


_DOCKER = _docker_engine_available()


def pytest_report_header() -> list[str]:
    if _DOCKER:
        return ["services: Docker engine found, PostgreSQL and Redis from testcontainers"]
    return [
        "services: no Docker engine, falling back to local PostgreSQL "
        f"({LOCAL_POSTGRES}) and Redis ({LOCAL_REDIS})"
    ]


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ServiceEndpoint]:
    if _DOCKER:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield ServiceEndpoint(pg.get_connection_url(), "testcontainers")
        return
    try:
        asyncio.run(_pg_execute(LOCAL_POSTGRES, "SELECT 1"))
    except Exception as exc:  # any failure means: no PostgreSQL for these tests
        pytest.skip(f"no Docker engine and no PostgreSQL at {LOCAL_POSTGRES}: {exc}")
    yield ServiceEndpoint(LOCAL_POSTGRES, "local")


@contextmanager
def _fresh_database(server: ServiceEndpoint) -> Iterator[str]:
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(server.url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(server.url, name)
    finally:
        asyncio.run(_pg_execute(server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_server: ServiceEndpoint) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    with _fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server: ServiceEndpoint) -> Iterator[str]:
    """A fresh, empty database shared by one test module (e.g. its cluster), dropped after."""
    with _fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServiceEndpoint]:
    if _DOCKER:
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as rc:
            host, port = rc.get_container_host_ip(), rc.get_exposed_port(6379)
            yield ServiceEndpoint(f"redis://{host}:{port}/0", "testcontainers")
        return
    import redis

    try:
        redis.Redis.from_url(LOCAL_REDIS, socket_timeout=2).ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine and no Redis at {LOCAL_REDIS}: {exc}")
    yield ServiceEndpoint(LOCAL_REDIS, "local")


@dataclass(frozen=True, slots=True)
class RedisNamespace:
    url: str
    prefix: str  # every key and channel a test's code makes starts with this


@contextmanager
def _fresh_namespace(server: ServiceEndpoint) -> Iterator[RedisNamespace]:
    import redis

    ns = RedisNamespace(server.url, f"crmtest:{uuid.uuid4().hex[:12]}:")
    yield ns
    client = redis.Redis.from_url(ns.url)
    try:
        keys = list(client.scan_iter(match=f"{ns.prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_namespace(redis_server: ServiceEndpoint) -> Iterator[RedisNamespace]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    with _fresh_namespace(redis_server) as ns:
        yield ns


@pytest.fixture(scope="module")
def module_redis_namespace(redis_server: ServiceEndpoint) -> Iterator[RedisNamespace]:
    """A key prefix shared by one test module (e.g. its cluster); deleted afterwards."""
    with _fresh_namespace(redis_server) as ns:
        yield ns


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A private CA and a server certificate for 127.0.0.1/localhost signed by it (PEM)."""
    return make_pki(tmp_path_factory.mktemp("pki"))
