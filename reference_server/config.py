"""Server settings: CLI options first, then environment variables, then the spec's defaults."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.spec import Heartbeat, Limits

from .exceptions import SettingsError

__all__ = [
    "DEFAULT_DATA_DIR",
    "LIMIT_ENV",
    "LISTENING_MESSAGE",
    "ServerSettings",
    "add_server_options",
    "engineio_heartbeat",
    "listening_line",
    "settings_from_args",
]

DEFAULT_DATA_DIR = "./crm-data"
# Printed once the node serves; the launcher waits for it (so /healthz from another process
# that happens to hold the port is never mistaken for ours).
LISTENING_MESSAGE = "listening on"
SERVER_NAME = "crm-reference-server"

# Every limit is configurable from the environment too (INF-2: the server enforces what it
# advertises, so whatever is set here is also what /api/v1/realtime/info reports).
LIMIT_ENV: dict[str, str] = {
    "eventsPerSecond": "CRM_EVENTS_PER_SECOND",
    "burst": "CRM_BURST",
    "floodDisconnectThreshold": "CRM_FLOOD_DISCONNECT_THRESHOLD",
    "maxConnectionsPerUser": "CRM_MAX_CONNECTIONS_PER_USER",
    "maxPayloadBytes": "CRM_MAX_PAYLOAD_BYTES",
    "replayWindowEvents": "CRM_REPLAY_WINDOW_EVENTS",
    "replayWindowSeconds": "CRM_REPLAY_WINDOW_SECONDS",
    "idempotencyTtlSeconds": "CRM_IDEMPOTENCY_TTL",
    "editLockTtlSeconds": "CRM_EDIT_LOCK_TTL",
    "presenceGraceSeconds": "CRM_PRESENCE_GRACE",
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    node_name: str = "node-1"
    jwt_secret: str = "dev-secret"
    data_dir: str = DEFAULT_DATA_DIR
    database_url: str | None = None  # None: SQLite file inside data_dir
    redis_url: str | None = None  # None: in-process cluster state (one node)
    redis_prefix: str = "crm:"  # Redis keys and channel of this cluster: clusters may share one
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    limits: Limits = field(default_factory=Limits)
    log_level: str = "warning"
    server_name: str = SERVER_NAME

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'crm.sqlite3'}"

    def with_limits(self, **changes: Any) -> ServerSettings:
        return replace(self, limits=replace(self.limits, **changes))

    def to_cli_args(self) -> list[str]:
        """The `python -m reference_server` options that rebuild these settings (launcher)."""
        args = [
            "--host", self.host, "--port", str(self.port), "--node-name", self.node_name,
            "--jwt-secret", self.jwt_secret, "--data-dir", self.data_dir,
            "--ping-interval", str(self.heartbeat.pingInterval),
            "--ping-timeout", str(self.heartbeat.pingTimeout),
            "--log-level", self.log_level,
        ]  # fmt: skip
        if self.database_url:
            args += ["--database-url", self.database_url]
        if self.redis_url:
            args += ["--redis-url", self.redis_url, "--redis-prefix", self.redis_prefix]
        for f in fields(Limits):
            args += [_limit_option(f.name), str(getattr(self.limits, f.name))]
        return args


# The short spellings the collab timing checks are usually run with (`--edit-lock-ttl 3`).
_LIMIT_ALIASES: dict[str, tuple[str, ...]] = {
    "editLockTtlSeconds": ("--edit-lock-ttl",),
    "presenceGraceSeconds": ("--presence-grace",),
}


def engineio_heartbeat(heartbeat: Heartbeat) -> tuple[int, float]:
    """(pingInterval, pingTimeout) in the seconds python-engineio takes, announcing exactly
    the info document's milliseconds (TRN-3).

    python-engineio announces `int(ping_interval) * 1000` in its open packet, so an interval
    that is not whole seconds would be announced shorter than it is sent: refused. It
    announces `int(ping_timeout * 1000)`, so the timeout gets half a millisecond more, which
    keeps float rounding (1.001 * 1000 = 1000.999…) from announcing a millisecond less.
    """
    interval_s, rest = divmod(heartbeat.pingInterval, 1000)
    if rest:
        raise SettingsError(
            f"--ping-interval must be a whole number of seconds in milliseconds (python-engineio "
            f"announces whole seconds), got {heartbeat.pingInterval}"
        )
    return interval_s, (heartbeat.pingTimeout + 0.5) / 1000


def listening_line(prog: str, host: str, port: int) -> str:
    return f"{prog}: {LISTENING_MESSAGE} http://{host}:{port}"


def _limit_option(name: str) -> str:
    dashed = "".join(f"-{c.lower()}" if c.isupper() else c for c in name)
    return f"--{dashed}"


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `crm-harness serve` and `python -m reference_server`.

    Defaults are None so that an unset option falls back to its environment variable.
    """
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8000; 0 picks a free one)")
    parser.add_argument("--node-name", help="name in the info document (default node-1)")
    parser.add_argument("--jwt-secret", help="HS256 secret (env JWT_SECRET)")
    parser.add_argument(
        "--database-url", help="sqlite:///path or postgresql://… (env CRM_DATABASE_URL)"
    )
    parser.add_argument(
        "--data-dir", help=f"where SQLite lives (env CRM_DATA_DIR, default {DEFAULT_DATA_DIR})"
    )
    parser.add_argument(
        "--redis-url", help="cluster state backend (env CRM_REDIS_URL; none = one node)"
    )
    parser.add_argument(
        "--redis-prefix", help="Redis key and channel prefix (env CRM_REDIS_PREFIX, default crm:)"
    )
    parser.add_argument(
        "--ping-interval", type=int, help="Engine.IO pingInterval in ms (default 10000)"
    )
    parser.add_argument(
        "--ping-timeout", type=int, help="Engine.IO pingTimeout in ms (default 5000)"
    )
    parser.add_argument("--log-level", help="debug, info, warning (default), error")
    # A clear place for the cluster work: `--nodes N` starts N nodes sharing one backend.
    for f in fields(Limits):
        parser.add_argument(
            _limit_option(f.name), *_LIMIT_ALIASES.get(f.name, ()),
            dest=f"limit_{f.name}", type=_number, metavar="N",
            help=f"{f.name} (env {LIMIT_ENV[f.name]}, default {f.default})",
        )  # fmt: skip


def _env_number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return _number(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None


def settings_from_args(
    args: argparse.Namespace, env: Mapping[str, str] | None = None
) -> ServerSettings:
    """Options win over environment variables, which win over defaults; bad values are one
    clear SettingsError."""
    env = os.environ if env is None else env
    defaults = ServerSettings()
    limit_values: dict[str, Any] = {}
    for f in fields(Limits):
        value = getattr(args, f"limit_{f.name}", None)
        if value is None:
            value = _env_number(env, LIMIT_ENV[f.name])
        if value is None:
            continue
        if value <= 0 and f.name != "replayWindowEvents":
            raise SettingsError(f"--{_limit_option(f.name)[2:]} must be > 0, got {value}")
        limit_values[f.name] = value if f.name == "eventsPerSecond" else int(value)
    ping_interval = args.ping_interval or _env_number(env, "CRM_PING_INTERVAL")
    ping_timeout = args.ping_timeout or _env_number(env, "CRM_PING_TIMEOUT")
    heartbeat = Heartbeat(
        int(ping_interval or defaults.heartbeat.pingInterval),
        int(ping_timeout or defaults.heartbeat.pingTimeout),
    )
    if heartbeat.pingInterval <= 0 or heartbeat.pingTimeout <= 0:
        raise SettingsError("--ping-interval and --ping-timeout must be > 0 (milliseconds)")
    engineio_heartbeat(heartbeat)
    port = args.port if args.port is not None else int(env.get("CRM_PORT", defaults.port))
    if not 0 <= port <= 65535:
        raise SettingsError(f"--port must be 0–65535, got {port}")
    log_level = (args.log_level or env.get("CRM_LOG_LEVEL") or defaults.log_level).lower()
    if not isinstance(logging.getLevelName(log_level.upper()), int):
        raise SettingsError(f"--log-level {log_level!r} is not a log level")
    return ServerSettings(
        host=args.host or env.get("CRM_HOST") or defaults.host,
        port=port,
        node_name=args.node_name or env.get("CRM_NODE_NAME") or defaults.node_name,
        jwt_secret=args.jwt_secret or env.get("JWT_SECRET") or defaults.jwt_secret,
        data_dir=args.data_dir or env.get("CRM_DATA_DIR") or defaults.data_dir,
        database_url=args.database_url or env.get("CRM_DATABASE_URL") or None,
        redis_url=args.redis_url or env.get("CRM_REDIS_URL") or None,
        redis_prefix=getattr(args, "redis_prefix", None)
        or env.get("CRM_REDIS_PREFIX")
        or defaults.redis_prefix,
        heartbeat=heartbeat,
        limits=replace(defaults.limits, **limit_values),
        log_level=log_level,
    )
