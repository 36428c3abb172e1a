"""Backing services for the project's own tests: PostgreSQL and Redis, and their isolation.

Where a Docker engine answers, testcontainers starts throwaway servers; where none does (these
CI machines), the tests fall back to the servers on 127.0.0.1. Each test gets its own
PostgreSQL database and its own Redis key prefix, removed afterwards. The fixtures are in
tests/conftest.py; tests that need more than a fixture gives import from here.
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

__all__ = [
    "LOCAL_POSTGRES",
    "LOCAL_REDIS",
    "SERVICE_FIXTURES",
    "RedisNamespace",
    "ServiceEndpoint",
    "docker_engine_available",
    "fresh_database",
    "fresh_namespace",
    "pg_execute",
    "with_database",
]

LOCAL_POSTGRES = os.environ.get(
    "CRM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LOCAL_REDIS = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/0")

# The fixtures that reach PostgreSQL or Redis: a test using any of them (directly or through
# another fixture) is a `cluster` test (tests/conftest.py marks it).
SERVICE_FIXTURES = frozenset(
    {
        "postgres_server",
        "postgres_url",
        "module_postgres_url",
        "redis_server",
        "redis_namespace",
        "module_redis_namespace",
    }
)


def docker_engine_available() -> bool:
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


@dataclass(frozen=True, slots=True)
class RedisNamespace:
    url: str
    prefix: str  # every key and channel a test's code makes starts with this


async def pg_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def with_database(url: str, database: str) -> str:
    """`url` with its database name replaced."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def fresh_database(server: ServiceEndpoint, prefix: str = "crm_test") -> Iterator[str]:
    """A new, empty database on `server` (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_execute(server.url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server.url, name)
    finally:
        asyncio.run(pg_execute(server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_namespace(server: ServiceEndpoint) -> Iterator[RedisNamespace]:
    """A key prefix of its own on `server`; its keys are deleted afterwards."""
    import redis

    ns = RedisNamespace(server.url, f"crmtest:{uuid.uuid4().hex[:12]}:")
    try:
        yield ns
    finally:
        client = redis.Redis.from_url(ns.url)
        try:
            keys = list(client.scan_iter(match=f"{ns.prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
