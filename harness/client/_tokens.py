"""Synthetic brokerages, teams and agents: the identities tokens are minted for (SPEC §3).

Every run makes fresh random ids, so tests and load runs isolate themselves from whatever
else the server under test carries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from faker import Faker

__all__ = ["Agent", "Org"]


@dataclass(frozen=True, slots=True)
class Agent:
    """One synthetic user: the claims its token carries."""

    user_id: str
    team_id: str
    broker_id: str
    name: str

    @property
    def streams(self) -> tuple[str, str, str]:
        return (f"broker:{self.broker_id}", f"team:{self.team_id}", f"user:{self.user_id}")


@dataclass(slots=True)
class Org:
    """A synthetic brokerage tree with unique ids: brokers → teams → agents."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    seed: int | None = None
    _faker: Faker = field(init=False, repr=False)
    _counter: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._faker = Faker()
        if self.seed is not None:
            self._faker.seed_instance(self.seed)

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self.run_id}-{self._counter}"

    def broker(self) -> str:
        return self._next("b")

    def team(self, broker_id: str | None = None) -> tuple[str, str]:
        """(broker_id, team_id); a new broker unless one is given."""
        return (broker_id or self.broker(), self._next("t"))

    def agent(self, team: tuple[str, str] | None = None) -> Agent:
        broker_id, team_id = team or self.team()
        return Agent(self._next("u"), team_id, broker_id, self._faker.name())

    def team_of(self, size: int, broker_id: str | None = None) -> list[Agent]:
        team = self.team(broker_id)
        return [self.agent(team) for _ in range(size)]

    def layout(self, brokers: int, teams_per_broker: int, users_per_team: int) -> Iterator[Agent]:
        for _ in range(brokers):
            broker_id = self.broker()
            for _ in range(teams_per_broker):
                team = self.team(broker_id)
                for _ in range(users_per_team):
                    yield self.agent(team)
