"""The server under test: its node URLs and its info document, read once (INF-1, INF-2).

`load_target` is also the pre-flight of `crm-harness conform`: an unreachable URL or one
that is not a CRM realtime server raises `TargetError` with one clear line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness._exceptions import TargetError
from harness.client import ConnectionOptions, TargetConnection, TokenSource, fetch_info
from harness.spec import (
    DEFAULT_AUTH_ALGORITHMS,
    SENSITIVE_FIELDS,
    Heartbeat,
    Limits,
    Profile,
)

__all__ = [
    "DEFAULT_FUZZ_S",
    "DEFAULT_MAX_WAIT_S",
    "DEFAULT_QUIET_S",
    "Target",
    "fetch_info",
    "load_target",
]

DEFAULT_QUIET_S = 0.4  # how long a negative check listens for what must not arrive
DEFAULT_MAX_WAIT_S = 25.0  # a timing check that would need to wait longer reports not-run
DEFAULT_FUZZ_S = 10.0  # what the fuzz checks may spend sending generated input, in all


@dataclass(frozen=True, slots=True)
class Target:
    connection: TargetConnection
    info: Mapping[str, Any]  # the first node's document
    node_infos: tuple[Mapping[str, Any], ...] = ()
    restart_cmd: str | None = None
    quiet_s: float = DEFAULT_QUIET_S
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    selected_profiles: frozenset[str] = field(default_factory=frozenset)
    fuzz_seconds: float = DEFAULT_FUZZ_S
    fuzz_seed: int = 0
    jwks_url: str | None = None  # where the key-confusion check may find the public key

    @property
    def urls(self) -> tuple[str, ...]:
        return self.connection.urls

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def tokens(self) -> TokenSource:
        return self.connection.tokens

    @property
    def options(self) -> ConnectionOptions:
        return self.connection.options

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Info `auth.algorithms` (§3); absent (a 1.0 server) means HS256."""
        auth = self.info.get("auth")
        raw = auth.get("algorithms") if isinstance(auth, Mapping) else None
        if not isinstance(raw, list) or not raw:
            return DEFAULT_AUTH_ALGORITHMS
        return tuple(str(a) for a in raw)

    @property
    def limits(self) -> Limits:
        raw = self.info.get("limits")
        return Limits.from_json(dict(raw)) if isinstance(raw, Mapping) else Limits()

    @property
    def heartbeat(self) -> Heartbeat:
        raw = self.info.get("heartbeat")
        if not isinstance(raw, Mapping):
            return Heartbeat()
        return Heartbeat(**{k: int(raw[k]) for k in ("pingInterval", "pingTimeout") if k in raw})

    @property
    def profiles(self) -> frozenset[str]:
        raw = self.info.get("profiles")
        return frozenset(str(p) for p in raw) if isinstance(raw, list) else frozenset()

    @property
    def sensitive_fields(self) -> dict[str, tuple[str, ...]]:
        raw = self.info.get("sensitiveFields")
        if not isinstance(raw, Mapping):
            return dict(SENSITIVE_FIELDS)
        return {str(t): tuple(str(f) for f in fields) for t, fields in raw.items()}

    def declares(self, profile: Profile | str) -> bool:
        """`core` is mandatory (§0); `cluster` is a property of the run, not of a node."""
        profile = Profile(profile)
        if profile is Profile.CORE:
            return True
        if profile is Profile.CLUSTER:
            return len(self.urls) >= 2
        return profile.value in self.profiles

    def node(self, index: int) -> str:
        """Node `index` modulo the cluster size: actors on 0, receivers on 1 spread a check."""
        return self.urls[index % len(self.urls)]


def load_target(
    connection: TargetConnection,
    *,
    restart_cmd: str | None = None,
    quiet_s: float = DEFAULT_QUIET_S,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    selected_profiles: Sequence[str] = (),
    jwks_url: str | None = None,
) -> Target:
    if not connection.urls:
        raise TargetError("no target URL given")
    infos = tuple(fetch_info(u, connection.options) for u in connection.urls)
    return Target(
        connection=connection,
        info=infos[0],
        node_infos=infos,
        restart_cmd=restart_cmd,
        quiet_s=quiet_s,
        max_wait_s=max_wait_s,
        selected_profiles=frozenset(selected_profiles),
        jwks_url=jwks_url,
    )
