"""The compose stack and the image: CLU-1 (three nodes as one server behind nginx), INF-3 health
checks, TRN-1/TRN-2 (Socket.IO on /socket.io/ over WebSocket and sticky polling).

The files are read and their meaning checked here, without an engine (`docker compose config
-q` runs where a compose CLI exists); tests/ship/test_compose_stack.py runs the stack for real.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from deploy_commands import ROOT, console_script, interpolate, load_yaml, parse_harness_command
from nginx_conf import Directive, parse_nginx

from harness import spec
from reference_server.config import settings_from_args

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE_TEXT = (ROOT / "Dockerfile").read_text()
NODES = ("node-1", "node-2", "node-3")
SERVER_STACK = {"redis", "postgres", *NODES, "nginx", "prometheus"}
LOCAL_OVERRIDE = ROOT / "deploy" / "local" / "docker-compose.local.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


@pytest.fixture(scope="module")
def nginx_conf(services: dict[str, Any]) -> Directive:
    return parse_nginx(_mounted_file(services["nginx"], "/etc/nginx/nginx.conf").read_text())


def _mounted_file(service: dict[str, Any], target: str) -> Path:
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return ROOT / source
    raise AssertionError(f"nothing is mounted at {target}")


def _node_args(services: dict[str, Any], node: str) -> Any:
    command = services[node]["command"]
    assert command[0] == "serve", f"{node} runs {command[0]!r}, not `crm-harness serve`"
    return parse_harness_command(command)


def test_docker_compose_up_starts_the_server_stack_only(services: dict[str, Any]) -> None:
    """CLU-1: `docker compose up` is Redis, PostgreSQL, three nodes, nginx and Prometheus;
    Locust is opt-in."""
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == SERVER_STACK
    load = {name for name, svc in services.items() if "load" in svc.get("profiles", [])}
    assert load == {"locust-master", "locust-worker"}


@pytest.mark.parametrize("name", sorted(SERVER_STACK))
def test_every_server_service_has_a_health_check(services: dict[str, Any], name: str) -> None:
    """INF-3: each node is probed on /healthz; Redis and PostgreSQL on their own pings."""
    test = services[name]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1
    probe = " ".join(test[1:])
    expected = {
        "redis": "redis-cli ping",
        # Over TCP: a socket probe calls the image's temporary init-time server ready.
        "postgres": "pg_isready -h 127.0.0.1",
        "prometheus": "/-/ready",
    }.get(name, spec.HEALTH_PATH)
    assert expected in probe


def test_locust_services_do_not_inherit_the_servers_health_check(services: dict[str, Any]) -> None:
    """The image's HEALTHCHECK probes :8000, which no Locust process serves: both Locust
    services bring their own (the run configuration is written)."""
    for name in ("locust-master", "locust-worker"):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert "CRM_LOAD_CONFIG" in probe and "8000" not in probe, name


def _scrape_jobs(services: dict[str, Any]) -> dict[str, Any]:
    config = load_yaml(_mounted_file(services["prometheus"], "/etc/prometheus/prometheus.yml"))
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_prometheus_scrapes_every_node_on_its_metrics_path(services: dict[str, Any]) -> None:
    """MET-1: one scrape job with the three nodes by compose name and port, on /metrics."""
    jobs = _scrape_jobs(services)
    assert set(jobs) == {"crm-nodes", "crm-load"}
    job = jobs["crm-nodes"]
    assert job.get("metrics_path", "/metrics") == spec.METRICS_PATH
    (static,) = job["static_configs"]
    ports = {node: _node_args(services, node).port for node in NODES}
    assert sorted(static["targets"]) == sorted(f"{node}:{port}" for node, port in ports.items())
    command = " ".join(services["prometheus"]["command"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_prometheus_scrapes_the_load_generator(services: dict[str, Any]) -> None:
    """The load's live figures: the master serves them on every interface (Prometheus is
    another container) on the port the crm-load job scrapes."""
    master = services["locust-master"]
    load = parse_harness_command([interpolate(arg, {}) for arg in master["command"]])
    assert load.metrics_host == "0.0.0.0" and load.metrics_port
    (static,) = _scrape_jobs(services)["crm-load"]["static_configs"]
    assert static["targets"] == [f"locust-master:{load.metrics_port}"]


def test_nodes_wait_for_healthy_redis_and_postgres(services: dict[str, Any]) -> None:
    """CLU-1: a node starts only when the backends it shares answer their health checks."""
    for node in NODES:
        depends = services[node]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"


def test_the_three_nodes_share_one_redis_and_one_postgresql(services: dict[str, Any]) -> None:
    """CLU-1: same --redis-url and --database-url on every node, distinct node names."""
    args = [_node_args(services, node) for node in NODES]
    assert len({a.redis_url for a in args}) == 1
    assert len({a.database_url for a in args}) == 1
    assert sorted(a.node_name for a in args) == sorted(NODES)

    redis_url = urlsplit(args[0].redis_url)
    assert (redis_url.scheme, redis_url.hostname) == ("redis", "redis")
    db_url = urlsplit(args[0].database_url)
    assert db_url.scheme == "postgresql" and db_url.hostname == "postgres"
    pg_env = services["postgres"]["environment"]
    assert db_url.username == pg_env["POSTGRES_USER"]
    assert db_url.password == pg_env["POSTGRES_PASSWORD"]
    assert db_url.path.lstrip("/") == pg_env["POSTGRES_DB"]


def test_nodes_listen_where_nginx_sends_traffic(
    services: dict[str, Any], nginx_conf: Directive
) -> None:
    """TRN-1: REST and Socket.IO of every node are reachable through nginx's upstreams."""
    ports = {node: _node_args(services, node).port for node in NODES}
    http = nginx_conf.one("http")
    for upstream in http.all("upstream"):
        servers = sorted(d.args[0] for d in upstream.all("server"))
        assert servers == sorted(f"{node}:{port}" for node, port in ports.items())


def test_each_node_is_published_on_loopback_only(services: dict[str, Any]) -> None:
    """MET-1, CLU-1: /metrics is scraped and conformance checked node by node, locally."""
    published = []
    for node in NODES:
        (mapping,) = services[node]["ports"]
        host, host_port, container_port = interpolate(mapping, {}).split(":")
        assert host == "127.0.0.1"
        assert int(container_port) == _node_args(services, node).port
        published.append(host_port)
    assert len(set(published)) == len(NODES)


def _location(nginx_conf: Directive, path: str) -> Directive:
    return nginx_conf.one("http").one("server").one("location", path)


def _upstream_of(nginx_conf: Directive, location: Directive) -> Directive:
    target = location.one("proxy_pass").args[0]
    name = urlsplit(target).hostname
    return nginx_conf.one("http").one("upstream", str(name))


def test_nginx_upgrades_websockets_on_the_socketio_path(nginx_conf: Directive) -> None:
    """TRN-1, TRN-2: /socket.io/ is proxied over HTTP/1.1 with the Upgrade/Connection handshake."""
    location = _location(nginx_conf, spec.SOCKETIO_PATH)
    assert location.one("proxy_http_version").args == ["1.1"]
    headers = {d.args[0].lower(): d.args[1] for d in location.all("proxy_set_header")}
    assert headers["upgrade"] == "$http_upgrade"
    connection = headers["connection"]
    if connection.startswith("$"):
        # The usual map: "upgrade" when the client asks for it, "close" otherwise.
        upgrade_map = next(d for d in nginx_conf.one("http").all("map") if d.args[1] == connection)
        assert upgrade_map.args[0] == "$http_upgrade"
        assert {d.name: d.args[0] for d in upgrade_map.block}["default"] == "upgrade"
    else:
        assert connection.lower() == "upgrade"
    assert location.one("proxy_buffering").args == ["off"]
    read_timeout = location.one("proxy_read_timeout").args[0]
    heartbeat = spec.Heartbeat()
    assert _seconds(read_timeout) * 1000 > heartbeat.pingInterval + heartbeat.pingTimeout


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, value
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return int(match.group(1)) * scale


def test_nginx_keeps_polling_sessions_sticky(nginx_conf: Directive) -> None:
    """TRN-2: every request of a polling session (sid) reaches the node that holds it."""
    upstream = _upstream_of(nginx_conf, _location(nginx_conf, spec.SOCKETIO_PATH))
    if upstream.all("ip_hash") or upstream.all("sticky"):
        return
    key = upstream.one("hash").args[0]
    # A computed key: it must be the client address whenever a session id is in play.
    key_map = next(d for d in nginx_conf.one("http").all("map") if d.args[1] == key)
    entries = {d.name: d.args[0] for d in key_map.block}
    assert entries["default"] == "$remote_addr"
    assert set(key_map.args[0].split(":")) == {"$http_upgrade", "$arg_sid"}
    for pattern, value in entries.items():
        if value != "$remote_addr":
            # Only a WebSocket opened without a session id may go anywhere.
            assert pattern.startswith("~") and pattern.endswith(":$"), pattern
            assert "websocket" in pattern.lower()


def test_nginx_is_published_on_its_listen_port(
    services: dict[str, Any], nginx_conf: Directive
) -> None:
    """TRN-1: the host reaches the cluster through nginx's published port."""
    listen = nginx_conf.one("http").one("server").one("listen").args[0]
    published = {p.split(":")[-1] for p in services["nginx"]["ports"]}
    assert listen.split(":")[-1] in published


def _locust_options(argv: list[str]) -> dict[str, Any]:
    # Locust patches the standard library with gevent when imported: parse in a child process.
    code = (
        "import json, sys\n"
        "from locust.argument_parser import get_parser\n"
        "opts, unknown = get_parser(default_config_files=[]).parse_known_args(sys.argv[1:])\n"
        "print(json.dumps({'options': vars(opts), 'unknown': unknown}, default=str))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"locust {' '.join(argv)}: {done.stderr.strip()}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_locust_services_run_our_scenarios_against_nginx(services: dict[str, Any]) -> None:
    """CLU-1 under load: `crm-harness load` as Locust master, workers on a shared run volume."""
    master, worker = services["locust-master"], services["locust-worker"]
    assert master["entrypoint"] == ["sh", "deploy/locust/master.sh"]
    assert f"exec {console_script()} " in (ROOT / "deploy/locust/master.sh").read_text()
    load = parse_harness_command([interpolate(arg, {}) for arg in master["command"]])
    assert load.command == "load"
    (target,) = load.url  # one URL: nginx spreads the users over the nodes
    host = urlsplit(target)
    assert host.hostname == "nginx"
    assert str(host.port) in {p.split(":")[-1] for p in services["nginx"]["ports"]}
    assert load.master_bind_host == "0.0.0.0"
    assert load.remote_workers == int(interpolate(str(worker["deploy"]["replicas"]), {}))
    assert (ROOT / "scenarios" / f"{load.scenario}.py").is_file()
    # The image's working directory holds the SLO file the run gates on (Dockerfile COPY).
    assert (ROOT / load.slo).is_file()
    assert re.search(rf"^COPY .*\b{re.escape(str(load.slo))} \./$", DOCKERFILE_TEXT, re.M)

    assert worker["entrypoint"] == ["sh", "deploy/locust/worker.sh"]
    locust = _locust_options([interpolate(arg, {}) for arg in worker["command"]])
    assert locust["unknown"] == []
    options = locust["options"]
    assert options["worker"] and options["master_host"] == "locust-master"
    assert options["master_port"] == load.master_bind_port
    assert options["locustfile"] == f"scenarios/{load.scenario}.py"

    # The run's configuration is written in the master's run directory, on the volume that
    # both mount; workers wait for the master to be healthy, i.e. for that file.
    assert master["volumes"] == worker["volumes"]
    mount = master["volumes"][0].split(":")[1]
    config = Path(master["environment"]["CRM_LOAD_CONFIG"])
    assert config == Path(load.report) / "load-config.json"
    assert config.is_relative_to(mount)
    assert "CRM_LOAD_CONFIG" in " ".join(master["healthcheck"]["test"])
    assert worker["depends_on"]["locust-master"]["condition"] == "service_healthy"


def _dockerfile_instruction(name: str) -> str:
    lines = DOCKERFILE_TEXT.replace("\\\n", " ").splitlines()
    found = [line.split(None, 1)[1] for line in lines if line.upper().startswith(name + " ")]
    assert found, f"no {name} in the Dockerfile"
    return found[-1]


def test_dockerfile_entrypoint_is_the_console_script_of_pyproject() -> None:
    """INF-3: the image runs `crm-harness`, by default `serve`, probed on /healthz."""
    assert json.loads(_dockerfile_instruction("ENTRYPOINT")) == [console_script()]
    args = parse_harness_command(json.loads(_dockerfile_instruction("CMD")))
    assert args.command == "serve"
    # No options in CMD: serve falls back to the image's environment (CRM_HOST, CRM_PORT).
    env = dict(re.findall(r"(CRM_\w+)=(\S+)", _dockerfile_instruction("ENV")))
    settings = settings_from_args(args, env)
    assert settings.host == "0.0.0.0"
    assert str(settings.port) in _dockerfile_instruction("EXPOSE").split()
    assert settings.data_dir in json.loads(_dockerfile_instruction("VOLUME"))
    healthcheck = _dockerfile_instruction("HEALTHCHECK")
    assert spec.HEALTH_PATH in healthcheck and "CRM_PORT" in healthcheck
    # The registry's Python image by default (ARG BASE_IMAGE; the local override changes it).
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE_TEXT, re.M))
    assert interpolate(_dockerfile_instruction("FROM"), defaults).startswith("python:3.11-slim")
    assert _dockerfile_instruction("USER") not in {"root", "0"}


def test_everything_the_dockerfile_copies_is_in_the_build_context() -> None:
    """The image builds from a clean clone: no COPY source missing or excluded by .dockerignore."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    text = DOCKERFILE_TEXT
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))  # COPY lock/${LOCK}.txt
    for sources in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", text, flags=re.M):
        for source in interpolate(sources, defaults).split():
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, not in the repo"
            assert source not in ignored, f"{source} is copied but excluded by .dockerignore"


def _compose_cli() -> list[str] | None:
    for candidate in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(candidate[0]) is None:
            continue
        probe = subprocess.run([*candidate, "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def test_docker_compose_accepts_the_file() -> None:
    """CLU-1: the compose CLI validates the file (config needs no engine, only the CLI)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` / `docker-compose` CLI on this machine")
    for files, profile in (
        (["-f", str(COMPOSE)], []),
        (["-f", str(COMPOSE)], ["--profile", "load"]),
        (["-f", str(COMPOSE), "-f", str(LOCAL_OVERRIDE)], ["--profile", "load"]),
    ):
        done = subprocess.run(
            [*cli, *files, *profile, "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr


def test_the_local_override_builds_every_image_on_the_local_base(services: dict[str, Any]) -> None:
    """Without a registry: every service of docker-compose.yml gets an image built here, all on
    the one base scripts/local-docker.sh makes (nothing left to pull)."""
    local = load_yaml(LOCAL_OVERRIDE)["services"]
    assert set(local) == set(services)
    script = (ROOT / "scripts" / "local-docker.sh").read_text()
    (base,) = re.findall(r"^BASE_IMAGE=(\S+)$", script, re.M)
    for name, service in local.items():
        build = service.get("build")
        if build is None:
            assert service["image"] == base, name
            continue
        assert build["args"]["BASE_IMAGE"] == base, name
        assert service["image"] != services[name]["image"], f"{name} would replace the registry tag"
        dockerfile = ROOT / build["context"] / "Dockerfile"
        assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile.read_text(), re.M), dockerfile
