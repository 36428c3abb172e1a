"""Fixtures of the project's own tests: PostgreSQL and Redis (tests/services.py), and the
`cluster` marker on every test that reaches them, so that `-m "not cluster"` runs without;
a private CA (`tls_files`); the harness installed alone in a fresh venv
(`harness_only_install`, tests/packaging/fresh_install.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from reference_server.launcher import RunningServer
from tests.packaging.fresh_install import HarnessOnlyInstall, install_harness_only
from tests.pki import JwtKeys, TlsFiles, make_jwt_keys, make_pki, tls_key_server
from tests.services import (
    LOCAL_POSTGRES,
    LOCAL_REDIS,
    POSTGRES_IMAGES,
    REDIS_IMAGES,
    SERVICE_FIXTURES,
    SERVICES,
    RedisNamespace,
    ServiceEndpoint,
    container_image,
    fresh_database,
    fresh_namespace,
    pg_execute,
    postgres_container,
    redis_container,
    use_containers,
)

# The compose-stack tests build every image from Debian's packages on a local engine (7 to 25
# minutes cold, then ~6 minutes of run): far past the suite's 10-minute budget, so `make test`
# leaves them to `make test-stack`, which sets this.
STACK_TESTS = os.environ.get("CRM_STACK_TESTS", "") == "1"
STACK_SKIP_REASON = "compose stack: opt-in, run by `make test-stack` (CRM_STACK_TESTS=1)"


def pytest_configure(config: pytest.Config) -> None:
    if SERVICES not in {"auto", "local", "containers"}:
        raise pytest.UsageError(f"CRM_TEST_SERVICES={SERVICES!r}: say auto, local or containers")


def pytest_report_header() -> list[str]:
    if use_containers():
        return ["services: PostgreSQL and Redis from testcontainers on the Docker engine"]
    return [f"services: local PostgreSQL ({LOCAL_POSTGRES}) and Redis ({LOCAL_REDIS})"]


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test whose fixtures reach PostgreSQL or Redis, directly or through other fixtures,
    is a `cluster` test. (Fixtures asked for at run time, `request.getfixturevalue`, are not
    seen here: `_require_cluster_marker` refuses them in a test without the marker.)"""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        if item.get_closest_marker("stack") is not None and not STACK_TESTS:
            item.add_marker(pytest.mark.skip(reason=STACK_SKIP_REASON))


def _require_cluster_marker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("cluster") is None:
        pytest.fail(
            f"{request.node.nodeid} reaches PostgreSQL or Redis without the `cluster` marker: "
            "mark it (or its parameter: pytest.param(..., marks=pytest.mark.cluster))",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ServiceEndpoint]:
    if use_containers():
        with postgres_container(container_image(POSTGRES_IMAGES)) as url:
            yield ServiceEndpoint(url, "testcontainers")
        return
    try:
        asyncio.run(pg_execute(LOCAL_POSTGRES, "SELECT 1"))
    except Exception as exc:  # any failure means: no PostgreSQL for these tests
        pytest.skip(f"no PostgreSQL at {LOCAL_POSTGRES} and no Docker engine: {exc}")
    yield ServiceEndpoint(LOCAL_POSTGRES, "local")


@pytest.fixture
def postgres_url(postgres_server: ServiceEndpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    _require_cluster_marker(request)
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server: ServiceEndpoint) -> Iterator[str]:
    """A fresh, empty database shared by one test module (e.g. its cluster), dropped after."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServiceEndpoint]:
    if use_containers():
        with redis_container(container_image(REDIS_IMAGES)) as url:
            yield ServiceEndpoint(url, "testcontainers")
        return
    import redis

    try:
        redis.Redis.from_url(LOCAL_REDIS, socket_timeout=2).ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {LOCAL_REDIS} and no Docker engine: {exc}")
    yield ServiceEndpoint(LOCAL_REDIS, "local")


@pytest.fixture
def redis_namespace(
    redis_server: ServiceEndpoint, request: pytest.FixtureRequest
) -> Iterator[RedisNamespace]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    _require_cluster_marker(request)
    with fresh_namespace(redis_server) as ns:
        yield ns


@pytest.fixture(scope="module")
def module_redis_namespace(redis_server: ServiceEndpoint) -> Iterator[RedisNamespace]:
    """A key prefix shared by one test module (e.g. its cluster); deleted afterwards."""
    with fresh_namespace(redis_server) as ns:
        yield ns


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A private CA and a server certificate for 127.0.0.1/localhost signed by it (PEM)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def rs256_keys(tmp_path_factory: pytest.TempPathFactory) -> JwtKeys:
    """An RS256 signing key: the identity provider's private half, the server's public."""
    return make_jwt_keys(tmp_path_factory.mktemp("jwt"), "RS256")


@pytest.fixture(scope="module")
def tls_rs256_server(tls_files: TlsFiles, rs256_keys: JwtKeys) -> Iterator[RunningServer]:
    """The reference server serving HTTPS with `tls_files`, verifying `rs256_keys`' tokens."""
    with tls_key_server(tls_files, rs256_keys) as server:
        yield server


@pytest.fixture(scope="session")
def harness_only_install(tmp_path_factory: pytest.TempPathFactory) -> HarnessOnlyInstall:
    """`pip install crm-realtime-harness` (no extras) in a fresh venv, once per session (a
    minute or more: give the first test using it `@pytest.mark.timeout(900)`). Under xdist
    each worker that runs such a test builds its own: keep those tests in one file."""
    return install_harness_only(tmp_path_factory.mktemp("harness-only"))
