"""flood: a few abusive sockets send far over the rate limit while the team works normally.

Others' latency must hold (compare with a team_sync run) and the flooders must be limited
(LIM-1: `RATE_LIMITED` acks, LIM-2: disconnected); see actions.csv `flood` rows.
"""

from __future__ import annotations

import json
import os

from harness.load.locust_events import CONFIG_ENV
from harness.load.locust_user import CrmUser, FloodUser

__all__ = ["Flooder", "TeamMember"]


def _flood_sockets() -> int:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return 1
    with open(path) as handle:
        return int(json.load(handle)["workload"].get("flood_sockets", 2))


class TeamMember(CrmUser):
    weight = 1


class Flooder(FloodUser):
    fixed_count = _flood_sockets()
