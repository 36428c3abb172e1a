"""The server under test: its node URLs and its info document, read once (INF-1, INF-2).

`load_target` is also the pre-flight of `crm-harness conform`: an unreachable URL or one
that is not a CRM realtime server raises `TargetError` with one clear line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness._exceptions import TargetError
from harness.spec import INFO_PATH, SENSITIVE_FIELDS, Heartbeat, Limits, Profile

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


def fetch_info(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET the info document; TargetError when the URL is unreachable or not a CRM server."""
    base = url.rstrip("/")
    try:
        response = httpx.get(base + INFO_PATH, timeout=timeout)
    except httpx.ConnectError as exc:
        raise TargetError(f"cannot reach {base}: connection refused or no route ({exc})") from None
    except httpx.TimeoutException:
        raise TargetError(f"cannot reach {base}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {base}: {exc}") from None
    if response.status_code != 200:
        raise TargetError(
            f"{base} is not a CRM realtime server: GET {INFO_PATH} answered {response.status_code}"
        )
    try:
        info = response.json()
    except ValueError:
        raise TargetError(f"{base} is not a CRM realtime server: {INFO_PATH} is not JSON") from None
    missing = [
        k
        for k in ("specVersion", "profiles", "limits")
        if not isinstance(info, Mapping) or k not in info
    ]
    if missing:
        raise TargetError(
            f"{base} is not a CRM realtime server: info document lacks {', '.join(missing)}"
        )
    return dict(info)


@dataclass(frozen=True, slots=True)
class Target:
    urls: tuple[str, ...]
    secret: str
    info: Mapping[str, Any]  # the first node's document
    node_infos: tuple[Mapping[str, Any], ...] = ()
    restart_cmd: str | None = None
    quiet_s: float = DEFAULT_QUIET_S
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    selected_profiles: frozenset[str] = field(default_factory=frozenset)
    fuzz_seconds: float = DEFAULT_FUZZ_S
    fuzz_seed: int = 0

    @property
    def url(self) -> str:
        return self.urls[0]

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
    urls: Sequence[str],
    secret: str,
    *,
    restart_cmd: str | None = None,
    quiet_s: float = DEFAULT_QUIET_S,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    selected_profiles: Sequence[str] = (),
) -> Target:
    if not urls:
        raise TargetError("no target URL given")
    infos = tuple(fetch_info(u) for u in urls)
    return Target(
        urls=tuple(u.rstrip("/") for u in urls),
        secret=secret,
        info=infos[0],
        node_infos=infos,
        restart_cmd=restart_cmd,
        quiet_s=quiet_s,
        max_wait_s=max_wait_s,
        selected_profiles=frozenset(selected_profiles),
    )
