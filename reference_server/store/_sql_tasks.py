"""AI task state (SPEC §11, AI-7) in the same database as records and events.

A task's row changes in the same transaction as the `ai:task:*` event that announces the
change, so history over REST and the user's stream always agree, and a node that restarts
finds the tasks it was running (`unfinished_tasks`) and fails them instead of leaving them
`running` forever. Shared by SQLite and PostgreSQL like the rest of `_sql`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from .base import StoredTask

__all__ = ["TASK_SCHEMA", "SqlTaskReads", "SqlTaskWrites"]

TASK_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS ai_tasks (
        task_id TEXT NOT NULL PRIMARY KEY,
        user_id TEXT NOT NULL,
        node TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ai_tasks_by_user ON ai_tasks (user_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ai_tasks_by_node ON ai_tasks (node, status)",
)

UNFINISHED_STATUSES = ("queued", "running")
_COLUMNS = "task_id, user_id, node, status, created_at, data"


class _Executor(Protocol):
    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...


def _task_from_row(row: Sequence[Any]) -> StoredTask:
    return StoredTask(
        task_id=row[0], user_id=row[1], node=row[2], status=row[3], created_at=row[4],
        data=json.loads(row[5]),
    )  # fmt: skip


class SqlTaskReads:
    """Mixed into `SqlReads`: committed task rows."""

    def read_db(self) -> Any:
        raise NotImplementedError

    async def get_task(self, task_id: str) -> StoredTask | None:
        row = await self.read_db().fetch_one(
            f"SELECT {_COLUMNS} FROM ai_tasks WHERE task_id = ?", (task_id,)
        )
        return None if row is None else _task_from_row(row)

    async def list_tasks(self, user_id: str, limit: int) -> list[StoredTask]:
        """The user's tasks, newest first."""
        rows = await self.read_db().fetch_all(
            f"SELECT {_COLUMNS} FROM ai_tasks WHERE user_id = ?"
            " ORDER BY created_at DESC, task_id DESC LIMIT ?",
            (user_id, int(limit)),
        )
        return [_task_from_row(r) for r in rows]

    async def unfinished_tasks(self, node: str) -> list[StoredTask]:
        rows = await self.read_db().fetch_all(
            f"SELECT {_COLUMNS} FROM ai_tasks WHERE node = ? AND status IN (?, ?)",
            (node, *UNFINISHED_STATUSES),
        )
        return [_task_from_row(r) for r in rows]


class SqlTaskWrites:
    """Mixed into `SqlUnitOfWork`: task rows inside the transaction."""

    db: _Executor
    _for_update: str

    async def get_task(self, task_id: str) -> StoredTask | None:
        """The row, locked against other writers (another node's cancel) until commit."""
        row = await self.db.fetch_one(
            f"SELECT {_COLUMNS} FROM ai_tasks WHERE task_id = ?" + self._for_update, (task_id,)
        )
        return None if row is None else _task_from_row(row)

    async def save_task(self, task: StoredTask) -> None:
        await self.db.execute(
            f"INSERT INTO ai_tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (task_id) DO UPDATE SET node = excluded.node,"
            " status = excluded.status, data = excluded.data",
            (task.task_id, task.user_id, task.node, task.status, task.created_at,
             json.dumps(dict(task.data), separators=(",", ":"))),
        )  # fmt: skip
