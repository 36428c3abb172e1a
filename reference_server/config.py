"""Server settings: CLI options first, then environment variables, then the spec's defaults."""

from __future__ import annotations

import argparse
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.spec import Heartbeat, Limits

from .exceptions import SettingsError
from .shedding import Shedding

__all__ = [
    "DEFAULT_DATA_DIR",
    "LIMIT_ENV",
    "LISTENING_MESSAGE",
    "SHEDDING_ENV",
    "ServerSettings",
    "add_server_options",
    "engineio_heartbeat",
    "listening_line",
    "settings_from_args",
]

# Environment variables of the authentication and TLS options (the option wins).
AUTH_TLS_ENV: dict[str, str] = {
    "jwt_public_key": "CRM_JWT_PUBLIC_KEY",
    "jwks_url": "CRM_JWKS_URL",
    "tls_cert": "CRM_TLS_CERT",
    "tls_key": "CRM_TLS_KEY",
}
_DEFAULT_JWKS_REFRESH_S = 10.0  # reference_server.auth.jwks.DEFAULT_JWKS_REFRESH_S

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

# Load shedding (LIM-6): per `Shedding` field, its option, environment variable and help.
_SHEDDING_OPTIONS: dict[str, tuple[str, str, str]] = {
    "max_connections": (
        "--max-connections", "CRM_MAX_CONNECTIONS",
        "sockets this node holds at most; the next connect is refused SERVER_BUSY with "
        "retryAfterMs (0 = no cap)",
    ),
    "max_loop_lag_ms": (
        "--max-loop-lag-ms", "CRM_MAX_LOOP_LAG_MS",
        "while the event loop runs later than this, new connects are refused SERVER_BUSY and "
        "REST answers 503 with Retry-After; the sockets held keep their heartbeats, acks and "
        "deliveries (0 = off)",
    ),
    "retry_after_ms": (
        "--busy-retry-after-ms", "CRM_BUSY_RETRY_AFTER_MS",
        "a SERVER_BUSY refusal asks to come back after this to twice this, spread at random, "
        "or later when paced (--busy-retry-rate)",
    ),
    "busy_retry_rate": (
        "--busy-retry-rate", "CRM_BUSY_RETRY_RATE",
        "refused connects are asked back at about this many a second at most: each refusal's "
        "retryAfterMs is the time to its return slot, so it grows with the refused (0 = off)",
    ),
    "max_retry_after_ms": (
        "--busy-retry-after-max-ms", "CRM_BUSY_RETRY_AFTER_MAX_MS",
        "the most retryAfterMs a paced refusal asks for (never under twice "
        "--busy-retry-after-ms)",
    ),
}  # fmt: skip
SHEDDING_ENV: dict[str, str] = {name: env for name, (_, env, _) in _SHEDDING_OPTIONS.items()}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    node_name: str = "node-1"
    jwt_secret: str = "dev-secret"
    # RS256/ES256 (SPEC §3): a public key file, or a JWKS URL; neither means HS256 and the secret.
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwks_refresh_s: float = _DEFAULT_JWKS_REFRESH_S  # at most one JWKS refetch this often
    tls_cert: str | None = None  # both set: the node serves HTTPS/WSS itself
    tls_key: str | None = None
    data_dir: str = DEFAULT_DATA_DIR
    database_url: str | None = None  # None: SQLite file inside data_dir
    redis_url: str | None = None  # None: in-process cluster state (one node)
    redis_prefix: str = "crm:"  # Redis keys and channel of this cluster: clusters may share one
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    limits: Limits = field(default_factory=Limits)
    shedding: Shedding = field(default_factory=Shedding)
    log_level: str = "warning"
    server_name: str = SERVER_NAME

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

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
            "--data-dir", self.data_dir,
            "--ping-interval", str(self.heartbeat.pingInterval),
            "--ping-timeout", str(self.heartbeat.pingTimeout),
            "--log-level", self.log_level,
        ]  # fmt: skip
        if not (self.jwt_public_key or self.jwks_url):
            args += ["--jwt-secret", self.jwt_secret]
        if self.database_url:
            args += ["--database-url", self.database_url]
        if self.redis_url:
            args += ["--redis-url", self.redis_url, "--redis-prefix", self.redis_prefix]
        for name in AUTH_TLS_ENV:
            value = getattr(self, name)
            if value:
                args += [_option(name), value]
        if self.jwks_url:
            args += ["--jwks-refresh-interval", str(self.jwks_refresh_s)]
        for f in fields(Limits):
            args += [_limit_option(f.name), str(getattr(self.limits, f.name))]
        for name, (option, _, _) in _SHEDDING_OPTIONS.items():
            args += [option, str(getattr(self.shedding, name))]
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


def listening_line(prog: str, host: str, port: int, scheme: str = "http") -> str:
    return f"{prog}: {LISTENING_MESSAGE} {scheme}://{host}:{port}"


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


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
        "--jwt-public-key", metavar="FILE",
        help="verify RS256/ES256 tokens with this PEM public key, certificate or JWK/JWKS "
        "file instead of the secret (env CRM_JWT_PUBLIC_KEY)",
    )  # fmt: skip
    parser.add_argument(
        "--jwks-url", metavar="URL",
        help="verify RS256/ES256 tokens with the identity provider's JWKS (env CRM_JWKS_URL)",
    )  # fmt: skip
    parser.add_argument(
        "--jwks-refresh-interval", type=float, metavar="SECONDS",
        help=f"refetch the JWKS for an unknown kid at most this often "
        f"(default {_DEFAULT_JWKS_REFRESH_S:g})",
    )  # fmt: skip
    parser.add_argument(
        "--tls-cert", metavar="FILE", help="serve HTTPS/WSS with this PEM certificate (chain)"
    )
    parser.add_argument("--tls-key", metavar="FILE", help="the certificate's PEM private key")
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
    for name, (option, env, text) in _SHEDDING_OPTIONS.items():
        parser.add_argument(
            option, dest=f"shedding_{name}", type=int, metavar="N",
            help=f"LIM-6: {text} (env {env}, default {getattr(Shedding(), name)})",
        )  # fmt: skip
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
    auth_tls = {
        name: getattr(args, name, None) or env.get(variable) or None
        for name, variable in AUTH_TLS_ENV.items()
    }
    _check_auth(args, auth_tls)
    _check_tls(auth_tls["tls_cert"], auth_tls["tls_key"])
    shedding = _shedding_from(args, env)
    refresh = getattr(args, "jwks_refresh_interval", None)
    if refresh is not None and not refresh > 0:
        raise SettingsError(f"--jwks-refresh-interval must be > 0 seconds, got {refresh:g}")
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
        shedding=shedding,
        log_level=log_level,
        jwt_public_key=auth_tls["jwt_public_key"],
        jwks_url=auth_tls["jwks_url"],
        jwks_refresh_s=refresh if refresh is not None else defaults.jwks_refresh_s,
        tls_cert=auth_tls["tls_cert"],
        tls_key=auth_tls["tls_key"],
    )


def _shedding_from(args: argparse.Namespace, env: Mapping[str, str]) -> Shedding:
    values: dict[str, int] = {}
    for name, variable in SHEDDING_ENV.items():
        value = getattr(args, f"shedding_{name}", None)
        if value is None:
            raw = _env_number(env, variable)
            value = None if raw is None else int(raw)
        if value is None:
            continue
        least = 1 if name in ("retry_after_ms", "max_retry_after_ms") else 0
        if value < least:
            option = _SHEDDING_OPTIONS[name][0]
            raise SettingsError(f"{option} must be ≥ {least}, got {value}")
        values[name] = value
    return Shedding(**values)


def _check_auth(args: argparse.Namespace, auth_tls: Mapping[str, str | None]) -> None:
    """One way to verify tokens; a key file that cannot verify anything is refused now."""
    public_key, jwks_url = auth_tls["jwt_public_key"], auth_tls["jwks_url"]
    if public_key and jwks_url:
        raise SettingsError("--jwt-public-key and --jwks-url: give one of them")
    if (public_key or jwks_url) and args.jwt_secret:
        chosen = "--jwt-public-key" if public_key else "--jwks-url"
        raise SettingsError(f"--jwt-secret and {chosen}: a server verifies one algorithm (§3)")
    if jwks_url and not jwks_url.startswith(("http://", "https://")):
        raise SettingsError(f"--jwks-url must be an http:// or https:// URL, got {jwks_url!r}")
    if public_key:
        from .auth.keys import load_key_file

        load_key_file(public_key)


def _check_tls(cert: str | None, key: str | None) -> None:
    """Both or neither, and a pair that loads: uvicorn would fail with a traceback."""
    if not cert and not key:
        return
    if not (cert and key):
        raise SettingsError("--tls-cert and --tls-key go together")
    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not Path(path).is_file():
            raise SettingsError(f"{option} {path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        raise SettingsError(
            f"--tls-cert {cert} / --tls-key {key}: not a PEM certificate and its key ({exc})"
        ) from None
