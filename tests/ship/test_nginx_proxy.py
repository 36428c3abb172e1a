"""deploy/nginx/nginx.conf for real: nginx in front of three reference-server processes.

TRN-1/TRN-2: Socket.IO through the proxy over WebSocket, over long-polling (which only works
when every request of a session reaches the same node: stickiness) and over polling upgraded to
WebSocket; direct WebSockets spread over the nodes; a change reaches a team spread over the
nodes (the compose stack without Docker: three nodes on Redis + PostgreSQL behind nginx).
The same nginx terminates TLS (deploy/nginx/tls.d/tls.conf, a certificate from the test's own
CA): the same paths work over HTTPS/WSS.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from deploy_commands import ROOT

from harness import spec
from harness.client import (
    Agent,
    ConnectionOptions,
    Org,
    RealtimeClient,
    RestClient,
    TokenFactory,
)
from reference_server.cluster import start_cluster
from reference_server.launcher import RunningServer, free_port
from tests.pki import TlsFiles
from tests.services import RedisNamespace

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
SECRET = "ship-nginx-secret-of-at-least-32-bytes"
# Short, so that a polling socket whose client left without a word is counted out within
# 3 s (the tests compare connection counts; such a socket must be gone before the next test).
HEARTBEAT = spec.Heartbeat(2000, 1000)
CONNECTIONS_GAUGE = re.compile(rf"^{spec.METRIC_NAMES[0]}\s+([0-9.]+)$", re.M)


def render_nginx_conf(
    ports: list[int], listen: int, workdir: Path, tls: tuple[int, TlsFiles] | None = None
) -> Path:
    """The shipped config with the compose hostnames and ports swapped for local ones; with
    `tls` (port, certificate files), the shipped TLS listener beside it too."""
    nginx_dir = ROOT / "deploy" / "nginx"
    text = (nginx_dir / "nginx.conf").read_text()
    for index, port in enumerate(ports, start=1):
        text = text.replace(f"server node-{index}:8000", f"server 127.0.0.1:{port}")
    assert "node-" not in re.sub(r"#.*", "", text), "a compose hostname is left in the config"
    text = re.sub(r"listen \d+;", f"listen 127.0.0.1:{listen};", text)
    text = text.replace("pid /tmp/nginx.pid;", f"pid {workdir}/nginx.pid;")
    text = text.replace("error_log /dev/stderr", f"error_log {workdir}/error.log")
    if tls is not None:
        tls_port, files = tls
        included = (nginx_dir / "tls.d" / "tls.conf").read_text()
        included = re.sub(r"listen \d+ ssl;", f"listen 127.0.0.1:{tls_port} ssl;", included)
        included = included.replace("certs/server.pem", str(files.cert))
        included = included.replace("certs/server-key.pem", str(files.key))
        (workdir / "tls.d").mkdir()
        (workdir / "tls.d" / "tls.conf").write_text(included)
    path = workdir / "nginx.conf"
    path.write_text(text)
    return path


def _nginx(workdir: Path, conf: Path, *extra: str) -> list[str]:
    assert NGINX is not None
    return [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log"), *extra]


def _proxy(
    stack: ExitStack, nodes: list[RunningServer], tls_files: TlsFiles | None = None
) -> tuple[str, str | None]:
    """nginx with the shipped config in front of `nodes`; its http URL, and its https URL
    when given certificate files. Stopped with the stack."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx-light)")
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ship-nginx-")))
    listen = free_port()
    tls = (free_port(), tls_files) if tls_files is not None else None
    ports = [int(n.url.rsplit(":", 1)[1]) for n in nodes]
    conf = render_nginx_conf(ports, listen, workdir, tls)
    checked = subprocess.run(_nginx(workdir, conf, "-t"), capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen(
        _nginx(workdir, conf, "-g", "daemon off;"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, proxy)
    url = f"http://127.0.0.1:{listen}"
    _wait_healthy(url, proxy)
    if tls is None:
        return url, None
    tls_url = f"https://127.0.0.1:{tls[0]}"
    _wait_healthy(tls_url, proxy, ConnectionOptions(ca_cert=str(tls[1].ca)))
    return url, tls_url


@pytest.fixture(scope="module")
def nginx_front(
    module_postgres_url: str, module_redis_namespace: RedisNamespace, tls_files: TlsFiles
) -> Iterator[tuple[str, str, list[RunningServer]]]:
    """The compose topology: three nodes sharing Redis and PostgreSQL, behind nginx, which
    also terminates TLS: (http URL, https URL, nodes).

    Engine.IO sessions still live in one node each, so a polling request that nginx sent to
    another node would fail outright: the stickiness checks bite on this cluster too."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx-light)")
    with ExitStack() as stack:
        cluster = stack.enter_context(
            start_cluster(
                3,
                module_redis_namespace.url,
                module_postgres_url,
                jwt_secret=SECRET,
                redis_prefix=module_redis_namespace.prefix,
                heartbeat=HEARTBEAT,
            )
        )
        url, tls_url = _proxy(stack, cluster.nodes, tls_files)
        assert tls_url is not None
        yield url, tls_url, cluster.nodes


@pytest.fixture(scope="module", params=["http", "https"])
def either_front(
    request: pytest.FixtureRequest,
    nginx_front: tuple[str, str, list[RunningServer]],
    tls_files: TlsFiles,
) -> tuple[str, ConnectionOptions, list[RunningServer]]:
    """The proxy over plain HTTP, then over TLS (trusting the test CA)."""
    if request.param == "http":
        return nginx_front[0], ConnectionOptions(), nginx_front[2]
    return nginx_front[1], ConnectionOptions(ca_cert=str(tls_files.ca)), nginx_front[2]


def _stop(proxy: subprocess.Popen[bytes]) -> None:
    proxy.terminate()
    try:
        proxy.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proxy.kill()
        proxy.wait()


def _wait_healthy(
    url: str, proxy: subprocess.Popen[bytes], options: ConnectionOptions | None = None
) -> None:
    verify = (options or ConnectionOptions()).ssl_context()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proxy.poll() is None, "nginx exited"
        try:
            if httpx.get(url + spec.HEALTH_PATH, timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("nginx never proxied /healthz")


Front = tuple[str, ConnectionOptions, list[RunningServer]]


async def _connect(
    front: Front, transports: list[str], agent: Agent | None = None
) -> RealtimeClient:
    url, options, _ = front
    token = TokenFactory(SECRET).mint(agent or Org().agent())
    client = RealtimeClient(url, token, transports=transports, options=options)
    await client.connect()
    return client


async def _sync_ok(client: RealtimeClient) -> None:
    ack = await client.sync({}, timeout=10)
    assert ack.ok, ack.raw


async def test_long_polling_sessions_stick_to_one_node(
    either_front: Front,
) -> None:
    """TRN-2: a polling session's many requests all reach its node (sticky), so it works."""
    clients = [await _connect(either_front, ["polling"]) for _ in range(3)]
    try:
        for _ in range(3):
            await asyncio.gather(*(_sync_ok(c) for c in clients))
        assert {c.socket.transport() for c in clients} == {"polling"}
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))


async def test_polling_upgrades_to_websocket_through_the_proxy(
    either_front: Front,
) -> None:
    """TRN-1, TRN-2: the default client path, polling then upgrade, passes nginx (several
    clients: one could get through an unsticky proxy by luck, four hardly)."""
    clients = await asyncio.gather(
        *(_connect(either_front, ["polling", "websocket"]) for _ in range(4))
    )
    try:
        for _ in range(100):  # the upgrade runs in the background; give it up to 5 s
            if {c.socket.transport() for c in clients} == {"websocket"}:
                break
            await asyncio.sleep(0.05)
        assert {c.socket.transport() for c in clients} == {"websocket"}
        await asyncio.gather(*(_sync_ok(c) for c in clients))
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))


def _connections(node: RunningServer) -> int:
    text = httpx.get(node.url + spec.METRICS_PATH, timeout=5).text
    match = CONNECTIONS_GAUGE.search(text)
    assert match, f"no {spec.METRIC_NAMES[0]} in {node.url}{spec.METRICS_PATH}"
    return int(float(match.group(1)))


@pytest.fixture(autouse=True)
def _sockets_gone_after_each_test(
    nginx_front: tuple[str, str, list[RunningServer]],
) -> Iterator[None]:
    """A node counts a closed socket out a moment after the client closed it (a polling one
    whose goodbye was cut short only at its heartbeat timeout): wait, with a deadline, until
    every socket a test opened is counted out, so the next test's counts start clean."""
    nodes = nginx_front[2]
    before = sum(_connections(n) for n in nodes)
    yield
    deadline = time.monotonic() + 3 * (HEARTBEAT.pingInterval + HEARTBEAT.pingTimeout) / 1000
    while sum(_connections(n) for n in nodes) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(_connections(n) for n in nodes) <= before, "sockets of the test still counted"


async def test_direct_websockets_spread_over_the_nodes(
    either_front: Front,
) -> None:
    """TRN-1, MET-1: fresh WebSockets from one address are not pinned to one node."""
    nodes = either_front[2]
    before = [_connections(n) for n in nodes]
    clients = await asyncio.gather(*(_connect(either_front, ["websocket"]) for _ in range(12)))
    try:
        await asyncio.gather(*(_sync_ok(c) for c in clients))
        added = [_connections(n) - b for n, b in zip(nodes, before, strict=True)]
        assert sum(added) == len(clients)
        assert sum(1 for a in added if a > 0) >= 2, f"every socket went to one node: {added}"
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))


async def test_a_change_reaches_the_whole_team_across_nodes_through_nginx(
    either_front: Front,
) -> None:
    """CLU-1, EVT-1, EVT-2 in the compose topology: a REST change made through nginx reaches
    every socket of the team once, whichever node each landed on; another team sees nothing."""
    url, options, nodes = either_front
    org = Org()
    team = org.team_of(6)
    outsider = org.agent()
    before = [_connections(n) for n in nodes]
    created = spec.data_event_name(spec.EntityType.ESCROW, spec.Action.CREATED)
    clients = [await _connect(either_front, ["websocket"], agent) for agent in [*team, outsider]]
    try:
        spread = [_connections(n) - b for n, b in zip(nodes, before, strict=True)]
        assert sum(1 for a in spread if a > 0) >= 2, f"the team sat on one node: {spread}"
        async with RestClient(url, TokenFactory(SECRET).mint(team[0]), options=options) as rest:
            response = await rest.create(spec.EntityType.ESCROW, {"address": "1 Proxy Lane"})
        assert response.status == 201, response.body
        record_id = response.data["id"]
        members, stranger = clients[:-1], clients[-1]
        await asyncio.gather(*(c.wait_for(created, timeout=5) for c in members))
        # A duplicate or a leak would arrive within this quiet period.
        await stranger.collect_quiet(0.3)
        for index, member in enumerate(members):
            assert [e.payload["entityId"] for e in member.received(created)] == [record_id], index
        assert stranger.received(created) == [], "a user of another team received the event"
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))
