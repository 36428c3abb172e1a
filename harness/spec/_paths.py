"""The paths the spec names for a requirement, each to be exercised by some check (issue 17):
REST and `mutate`, live and replay, every action, every claim, every scope of an audience.

The conformance report shows a (requirement × path) matrix of which cells a run exercised;
a full run against the reference server exercises every cell (tests/conformance).
"""

from __future__ import annotations

from ._entities import VISIBILITIES, Action

__all__ = ["PATHS", "SCOPES"]

# Who may be in an audience: the actor's own sockets, a teammate, a user of another team of
# the same brokerage, a user of another brokerage.
SCOPES: tuple[str, ...] = ("own", "team", "broker-other-team", "other-broker")
_ACTIONS = tuple(a.value for a in Action)

PATHS: dict[str, tuple[str, ...]] = {
    "AUTH-4": ("claim:sub", "claim:teamId", "claim:brokerId", "expired", "forged", "no token"),
    "REC-7": ("create", "update", "partly-valid:create", "partly-valid:update", "not-an-object",
              "too-large", "fuzz:rest"),
    "EVT-1": tuple(f"{v}:{a}" for v in VISIBILITIES for a in _ACTIONS)
    + tuple(f"scope:{s}" for s in SCOPES),
    "EVT-3": _ACTIONS,
    "EVT-4": ("api", "socket", "ai"),
    "RED-1": ("live", "replay", "rest:get", "rest:list", "rest:change", "activity"),
    "STR-1": ("team:data", "broker:data", "user:data", "user:notification", "user:ai",
              "dozens-per-stream"),
    "MUT-1": (*(f"op:{a}" for a in ("create", "update", "archive", "restore", "delete")),
              "partly-valid:create", "partly-valid:update"),
    "MUT-2": ("mutate", "rest", "rest+mutate", "two-users"),
    "LIM-5": ("fuzz:client-events",),
    "COL-1": tuple(f"scope:{s}" for s in SCOPES[1:]),
    "COL-7": tuple(f"scope:{s}" for s in SCOPES[1:]),
    "COL-9": ("viewing", "editing", "typing", "scope:broker-other-team"),
    "AI-3": tuple(f"scope:{s}" for s in SCOPES[1:]),
}  # fmt: skip
