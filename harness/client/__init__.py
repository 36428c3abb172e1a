"""Client library: tokens for synthetic users, a realtime Socket.IO client, stream tracking,
an offline mutation queue and a REST client — everything a check or a load user needs.
For profiles collab and ai: `PresenceRoster`, `RecordPresence` (viewers, editing, typing) and
`TaskProgress` with `submit_task` / `get_task` / `list_tasks` / `cancel_task`.

```python
from harness.client import Org, TokenFactory, RealtimeClient, RestClient

org = Org(); alice = org.agent(); tokens = TokenFactory(secret)
async with RealtimeClient(url, tokens.mint(alice)) as rt:
    ack = await rt.request("sync", {"cursors": {}})
```
"""

from __future__ import annotations

from ..stream_accountant import AnomalyKind, Arrival, StreamLedger
from ._ai import (
    SubmittedTask,
    TaskAnomaly,
    TaskAnomalyKind,
    TaskProgress,
    TaskSequenceError,
    cancel_task,
    get_task,
    list_tasks,
    submit_task,
)
from ._collab import PresenceRoster, PresenceTransition, RecordPresence
from ._listeners import PayloadListener
from ._messages import (
    Ack,
    ConnectFailure,
    ConnectRefused,
    DisconnectInfo,
    ErrorInfo,
    EventMatch,
    ReceivedEvent,
)
from ._mutations import FlushResult, Mutation, MutationQueue
from ._pacing import Pacer
from ._realtime import RealtimeClient
from ._rest import RestClient, RestResponse, collection_path
from ._streams import Anomaly, StreamTracker
from ._tokens import Agent, Org, TokenFactory

__all__ = [
    "Ack",
    "Agent",
    "Anomaly",
    "AnomalyKind",
    "Arrival",
    "ConnectFailure",
    "ConnectRefused",
    "DisconnectInfo",
    "ErrorInfo",
    "EventMatch",
    "FlushResult",
    "Mutation",
    "MutationQueue",
    "Org",
    "Pacer",
    "PayloadListener",
    "PresenceRoster",
    "PresenceTransition",
    "RealtimeClient",
    "ReceivedEvent",
    "RecordPresence",
    "RestClient",
    "RestResponse",
    "StreamLedger",
    "StreamTracker",
    "SubmittedTask",
    "TaskAnomaly",
    "TaskAnomalyKind",
    "TaskProgress",
    "TaskSequenceError",
    "TokenFactory",
    "cancel_task",
    "collection_path",
    "get_task",
    "list_tasks",
    "submit_task",
]
