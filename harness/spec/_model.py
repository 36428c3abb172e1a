"""The vocabulary the machine-readable spec is written in."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Level", "Profile", "Requirement"]


class Profile(enum.StrEnum):
    """A server declares the profiles it implements in its info document (SPEC §0)."""

    CORE = "core"
    COLLAB = "collab"
    AI = "ai"
    METRICS = "metrics"
    CLUSTER = "cluster"


class Level(enum.StrEnum):
    """RFC 2119 strength: a broken MUST fails a run, a missed SHOULD is only `non-strict`."""

    MUST = "MUST"
    SHOULD = "SHOULD"


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    section: int
    section_title: str
    profile: Profile
    level: Level
    text: str
