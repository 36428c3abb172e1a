"""Backing services for the project's own tests: PostgreSQL and Redis, and their isolation.

CRM_TEST_SERVICES chooses the servers: `local` (127.0.0.1, or CRM_TEST_POSTGRES / CRM_TEST_REDIS),
`containers` (throwaway servers from testcontainers on the Docker engine), or `auto`, the default:
the local servers when both answer, else containers when an engine answers. So an engine that
comes up (CI starts one for the compose-stack test) never changes a run that has local servers.
Containers use the registry images (postgres:16-alpine, redis:7-alpine) where the engine has
them, else the local ones scripts/local-docker.sh and the compose build make
(crm-local/postgres:15, crm-local/base:bookworm); CRM_TEST_POSTGRES_IMAGE / CRM_TEST_REDIS_IMAGE
name others. Each test gets its own PostgreSQL database and its own Redis key prefix, removed
afterwards. The fixtures are in tests/conftest.py; tests that need more than a fixture gives
import from here.
"""

from __future__ import annotations

import asyncio
import functools
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
    "POSTGRES_IMAGES",
    "REDIS_IMAGES",
    "SERVICES",
    "SERVICE_FIXTURES",
    "RedisNamespace",
    "ServiceEndpoint",
    "container_image",
    "docker_engine_available",
    "fresh_database",
    "fresh_namespace",
    "pg_execute",
    "postgres_container",
    "redis_container",
    "use_containers",
    "with_database",
]

LOCAL_POSTGRES = os.environ.get(
    "CRM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LOCAL_REDIS = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/0")
# CRM_TEST_NO_DOCKER=1 is the older spelling of CRM_TEST_SERVICES=local.
SERVICES = os.environ.get(
    "CRM_TEST_SERVICES", "local" if os.environ.get("CRM_TEST_NO_DOCKER") else "auto"
)


def _candidates(variable: str, *defaults: str) -> tuple[str, ...]:
    """Images to try in order: the one `variable` names, else the defaults."""
    chosen = os.environ.get(variable)
    return (chosen,) if chosen else defaults


POSTGRES_IMAGES = _candidates(
    "CRM_TEST_POSTGRES_IMAGE", "postgres:16-alpine", "crm-local/postgres:15"
)
REDIS_IMAGES = _candidates("CRM_TEST_REDIS_IMAGE", "redis:7-alpine", "crm-local/base:bookworm")
# A redis-server command both the registry image and Debian's package run the same way.
REDIS_COMMAND = "redis-server --save '' --appendonly no --protected-mode no"

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
    if not shutil.which("docker"):
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


def _local_services_answer() -> bool:
    import redis

    try:
        asyncio.run(pg_execute(LOCAL_POSTGRES, "SELECT 1"))
        redis.Redis.from_url(LOCAL_REDIS, socket_timeout=2).ping()
    except Exception:  # any failure means: not both local servers
        return False
    return True


@functools.cache
def use_containers() -> bool:
    """Whether this run's PostgreSQL and Redis come from testcontainers (see the docstring)."""
    if SERVICES != "auto":
        return SERVICES == "containers"
    return not _local_services_answer() and docker_engine_available()


def _image_present(image: str) -> bool:
    done = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, timeout=10, check=False
    )
    return done.returncode == 0


def container_image(candidates: tuple[str, ...]) -> str:
    """The first candidate the engine has, else the first (which testcontainers will pull)."""
    return next((image for image in candidates if _image_present(image)), candidates[0])


def _without_reaper() -> None:
    # Ryuk, testcontainers' reaper, is one more image to pull, from a registry these machines do
    # not reach. The fixtures stop their containers themselves; only a killed run leaves any.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@contextmanager
def postgres_container(image: str) -> Iterator[str]:
    """A throwaway PostgreSQL server from `image` (the official image's POSTGRES_* contract)."""
    _without_reaper()
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(image, driver=None) as pg:
        yield pg.get_connection_url()


@contextmanager
def redis_container(image: str) -> Iterator[str]:
    """A throwaway Redis server from `image`: any image with redis-server on its PATH."""
    _without_reaper()
    from testcontainers.redis import RedisContainer

    with RedisContainer(image).with_command(REDIS_COMMAND) as rc:
        yield f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"
