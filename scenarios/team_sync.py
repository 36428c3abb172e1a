"""team_sync (default): agents change their team's records; everyone in the audience must see it.

A change per user every `think_time_s` (50 s) on average, over REST and `mutate`, with views
and typing where the server has the `collab` profile.
"""

from __future__ import annotations

from harness.load.locust_user import CrmUser

__all__ = ["TeamSyncUser"]


class TeamSyncUser(CrmUser):
    pass
