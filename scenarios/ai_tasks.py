"""ai_tasks: team_sync plus AI tasks (SPEC §11) whose progress streams to the user.

Needs the `ai` profile; `crm-harness load` reads the info document and, when the server does
not declare it, says so and runs without the AI actions.
"""

from __future__ import annotations

from harness.load.locust_user import CrmUser

__all__ = ["AiTasksUser"]


class AiTasksUser(CrmUser):
    pass
