"""The workload model: who the users are, how often they act and what they do.

From CLI flags and/or a TOML or YAML file whose keys are the field names below (the action
and visibility mixes are tables). Bad input raises `UsageError` naming the key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness import UsageError
from harness.spec import ENTITY_TYPES, VISIBILITIES, Op

from .busy_backoff import BusyBackoff
from .measure import ExtraOp

__all__ = ["ACTION_OPS", "SCENARIOS", "Workload", "load_workload_file"]

# A change op (`Op`) or one of the non-change actions an agent takes.
ACTION_OPS: tuple[str, ...] = (
    *(op.value for op in Op),
    *(op.value for op in (ExtraOp.VIEW, ExtraOp.TYPING, ExtraOp.AI_TASK, ExtraOp.REFETCH)),
)
SCENARIOS: tuple[str, ...] = (
    "team_sync",
    "ai_tasks",
    "reconnect_storm",
    "flood",
    "refetch_baseline",
)


def _default_mix() -> dict[str, float]:
    return {
        "create": 0.15,
        "update": 0.55,
        "archive": 0.05,
        "restore": 0.03,
        "delete": 0.02,
        "view": 0.12,
        "typing": 0.08,
    }


def _default_visibility() -> dict[str, float]:
    return {"team": 0.8, "broker": 0.15, "private": 0.05}


@dataclass(frozen=True, slots=True)
class Workload:
    """Defaults: a change per user every 50 s on average, teams of 10 in brokers of 5 teams."""

    users_per_team: int = 10
    teams_per_broker: int = 5
    second_tab_share: float = 0.1
    # Mean time between one user's changes. Views, typing and the other non-change actions
    # of the mix come in between, so the change rate is users / think_time_s whatever the mix.
    think_time_s: float = 50.0
    socket_share: float = 0.5  # share of changes sent with `mutate` rather than REST
    action_mix: dict[str, float] = field(default_factory=_default_mix)
    visibility_mix: dict[str, float] = field(default_factory=_default_visibility)
    entity_types: tuple[str, ...] = ENTITY_TYPES
    sensitive_share: float = 0.3  # share of changes that set a sensitive field (RED-1 probe)
    drain_s: float = 2.0  # quiet time after the last action before the closing sync
    final_sync_timeout_s: float = 30.0
    ack_timeout_s: float = 10.0
    reconnect_interval_s: float = 20.0  # reconnect_storm: mean time between a user's drops
    reconnect_share: float = 0.5  # reconnect_storm: share of users that drop
    offline_s: float = 2.0  # reconnect_storm: how long a dropped user stays away
    flood_sockets: int = 2  # flood: abusive sockets
    flood_events_per_s: float = 200.0  # flood: what each of them tries to send
    refetch_limit: int = 50  # refetch_baseline: page size of each refetch (REC-3)
    # Keep-alive REST connections per generator process; 0 = one per 4 users (at least 64).
    # Too few and requests queue inside the generator, which then reports its own queue
    # as server latency.
    rest_pool_size: int = 0
    # A connect refused SERVER_BUSY (LIM-6) asks again after the refusal's retryAfterMs at
    # the least; each refusal in a row doubles a step from busy_backoff_s up to
    # busy_backoff_max_s, and the wait is stretched by a random share < busy_backoff_jitter.
    busy_backoff_s: float = 1.0
    busy_backoff_max_s: float = 60.0
    busy_backoff_jitter: float = 0.5
    seed: int | None = None

    def __post_init__(self) -> None:
        def check(ok: bool, key: str, why: str) -> None:
            if not ok:
                raise UsageError(f"workload: {key} {why}")

        check(self.users_per_team >= 1, "users_per_team", "must be ≥ 1")
        check(self.teams_per_broker >= 1, "teams_per_broker", "must be ≥ 1")
        for key in ("second_tab_share", "socket_share", "sensitive_share", "reconnect_share"):
            value = getattr(self, key)
            check(0.0 <= value <= 1.0, key, f"must be between 0 and 1, got {value}")
        for key in ("think_time_s", "reconnect_interval_s", "flood_events_per_s"):
            check(getattr(self, key) > 0, key, "must be > 0")
        for key in ("drain_s", "offline_s"):
            check(getattr(self, key) >= 0, key, "must be ≥ 0")
        check(self.final_sync_timeout_s > 0, "final_sync_timeout_s", "must be > 0")
        check(self.ack_timeout_s > 0, "ack_timeout_s", "must be > 0")
        check(self.flood_sockets >= 0, "flood_sockets", "must be ≥ 0")
        check(self.rest_pool_size >= 0, "rest_pool_size", "must be ≥ 0 (0 = automatic)")
        check(1 <= self.refetch_limit <= 200, "refetch_limit", "must be 1–200 (REC-3)")
        check(0 < self.busy_backoff_s <= self.busy_backoff_max_s, "busy_backoff_s",
              "must be > 0 and ≤ busy_backoff_max_s")  # fmt: skip
        check(0 <= self.busy_backoff_jitter <= 1, "busy_backoff_jitter", "must be 0–1")
        _check_mix(self.action_mix, ACTION_OPS, "action_mix")
        _check_mix(self.visibility_mix, VISIBILITIES, "visibility_mix")
        unknown = set(self.entity_types) - set(ENTITY_TYPES)
        check(bool(self.entity_types) and not unknown, "entity_types", f"unknown: {unknown}")

    def with_overrides(self, **changes: Any) -> Workload:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["entity_types"] = list(self.entity_types)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workload:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"workload: unknown key {unknown[0]!r} (known: {sorted(known)})")
        data = dict(data)
        if "entity_types" in data:
            data["entity_types"] = tuple(data["entity_types"])
        try:
            return cls(**data)
        except TypeError as exc:
            raise UsageError(f"workload: {exc}") from None

    def busy_backoff(self) -> BusyBackoff:
        return BusyBackoff(self.busy_backoff_s, self.busy_backoff_max_s, self.busy_backoff_jitter)

    def pool_size(self, users_per_process: int) -> int:
        return self.rest_pool_size or max(64, users_per_process // 4)

    def layout(self, index: int) -> tuple[int, int]:
        """(team number, broker number) of the user with this global index."""
        team = index // self.users_per_team
        return team, team // self.teams_per_broker


def _check_mix(mix: Any, allowed: tuple[str, ...], key: str) -> None:
    if not isinstance(mix, dict) or not mix:
        raise UsageError(f"workload: {key} must be a non-empty table of weights")
    for name, weight in mix.items():
        if name not in allowed:
            raise UsageError(f"workload: {key} has unknown entry {name!r} (known: {allowed})")
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
            raise UsageError(f"workload: {key}.{name} must be a number ≥ 0")
    if sum(mix.values()) <= 0:
        raise UsageError(f"workload: {key} weights must not all be 0")


def load_workload_file(path: Path) -> Workload:
    """A Workload from a .toml, .yaml/.yml or .json file; UsageError when unreadable or invalid."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read workload file {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise UsageError(f"workload file {path}: expected .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise UsageError(f"workload file {path}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        if type(exc).__module__.startswith("yaml"):
            raise UsageError(f"workload file {path}: {exc}") from None
        raise
    if not isinstance(data, dict):
        raise UsageError(f"workload file {path}: expected a table of settings")
    return Workload.from_json(data)
