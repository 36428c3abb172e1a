"""What every agent of one generator process shares: target, tokens, workload, counters."""

from __future__ import annotations

import itertools
import random
import sys
from dataclasses import dataclass, field
from typing import Any

from harness.client import Agent, ConnectionOptions, TokenSource

from .measure import CHANGE_OPS, ExtraOp
from .recorder import Counters
from .workload import Workload

__all__ = ["COLLAB_OPS", "ProcessContext", "effective_mix"]

CLOSING_SYNCS_PER_S = 2000.0
CLOSING_SYNC_SPREAD_MAX_S = 10.0
# Actions that need a profile beyond `core` (SPEC §0).
COLLAB_OPS = frozenset({ExtraOp.VIEW.value, ExtraOp.TYPING.value})
AI_OPS = frozenset({ExtraOp.AI_TASK.value})


def effective_mix(mix: dict[str, float], profiles: list[str]) -> tuple[dict[str, float], list[str]]:
    """The action mix a server can serve, and a note for each op dropped for a missing profile."""
    dropped: list[str] = []
    out = dict(mix)
    for ops, profile in ((COLLAB_OPS, "collab"), (AI_OPS, "ai")):
        if profile in profiles:
            continue
        for op in ops & {k for k, v in out.items() if v > 0}:
            dropped.append(f"{op} skipped: the server does not declare the `{profile}` profile")
            del out[op]
    if not any(v > 0 for v in out.values()):
        out = {"update": 1.0}
    return out, dropped


@dataclass(slots=True)
class ProcessContext:
    url: str
    tokens: TokenSource
    workload: Workload
    run_id: str
    scenario: str
    worker: int
    workers: int
    profiles: list[str]
    rest: Any  # RestPool; Any so that this module imports without gevent
    counters: Counters = field(default_factory=Counters)
    owners: dict[str, str] = field(default_factory=dict)
    deadline: float | None = None  # epoch s at which actions stop; set when the test starts
    users: int = 0  # the run's users, all processes together
    next_local_index: int = 0
    rng: random.Random = field(default_factory=random.Random)
    mix: dict[str, float] = field(default_factory=dict)
    # Every node of the target; `url` alone when empty. A user's sockets go round robin over
    # them from `node_of(index)`, so a second tab lands on another node than the first.
    node_urls: tuple[str, ...] = ()
    options: ConnectionOptions = field(default_factory=ConnectionOptions)  # TLS, headers, path
    token_failed: bool = False
    # pick_op's ops and cumulative weights, built once: random.choices given `weights`
    # accumulates them again at every call (issue 13). Same draws for the same seed.
    _ops: tuple[str, ...] = field(default=(), init=False, repr=False)
    _cum_weights: tuple[float, ...] = field(default=(), init=False, repr=False)
    _pause_mean: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.node_urls:
            self.node_urls = (self.url,)
        if self.workload.seed is not None:
            self.rng.seed(self.workload.seed * 1000 + self.worker)
        if not self.mix:
            self.mix, _ = effective_mix(self.workload.action_mix, self.profiles)
        self._ops = tuple(self.mix)
        self._cum_weights = tuple(itertools.accumulate(self.mix[o] for o in self._ops))
        total = sum(self.mix.values())
        changes = sum(w for op, w in self.mix.items() if op in CHANGE_OPS)
        share = changes / total if total > 0 and changes > 0 else 1.0
        self._pause_mean = self.workload.think_time_s * share

    def report_token_failure(self, message: str) -> None:
        """One line per process, however many users' tokens fail (they all fail alike)."""
        if not self.token_failed:
            self.token_failed = True
            print(f"crm-harness load: users' tokens: {message}", file=sys.stderr, flush=True)

    def claim_index(self) -> int:
        """A run-wide unique user index: workers interleave, so teams span workers."""
        index = self.next_local_index * max(self.workers, 1) + self.worker
        self.next_local_index += 1
        return index

    def node_of(self, slot: int) -> int:
        """The node (index into `node_urls`) of socket slot `slot`: user index + tab number."""
        return slot % len(self.node_urls)

    def agent_for(self, index: int) -> Agent:
        team, broker = self.workload.layout(index)
        return Agent(
            user_id=f"u-{self.run_id}-{index}",
            team_id=f"t-{self.run_id}-{team}",
            broker_id=f"b-{self.run_id}-{broker}",
            name=f"Agent {index}",
        )

    def second_tab(self, index: int) -> bool:
        # Deterministic per index so that a rerun with the same run id opens the same tabs.
        share = self.workload.second_tab_share
        return share > 0 and random.Random(f"{self.run_id}:{index}").random() < share

    def action_pause_mean(self) -> float:
        """Mean pause between actions such that changes come every `think_time_s` on average."""
        return self._pause_mean

    def closing_sync_spread_s(self) -> float:
        """Closing syncs start spread over this many seconds, not all at one instant.

        Thousands of sockets syncing at once stall the generator (and the server) for
        seconds; about 2,000 syncs a second per process stays smooth.
        """
        per_process = self.users / max(self.workers, 1)
        return min(CLOSING_SYNC_SPREAD_MAX_S, per_process / CLOSING_SYNCS_PER_S)

    def pick_op(self) -> str:
        return self.rng.choices(self._ops, cum_weights=self._cum_weights)[0]
