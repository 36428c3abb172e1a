"""Client library: tokens for synthetic users, a realtime Socket.IO client, stream tracking,
an offline mutation queue and a REST client — everything a check or a load user needs.
Tokens come from a `TokenSource`: `TokenFactory` (HS256 secret), `KeyTokens` (RS256/ES256
private key) or `CommandTokens` (the team's own token command).
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

from harness._target_options import SECRET_ENV, TARGET_OPTIONS, TargetOption

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
from ._connection import (
    INSECURE_WARNING,
    ConnectionOptions,
    TargetConnection,
    connection_options,
    parse_header,
    target_connection,
)
from ._discovery import fetch_info
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
from ._node_metrics import MetricFamily, NodeFigures, parse_metrics, scrape_node, sum_figures
from ._pacing import Pacer
from ._realtime import RealtimeClient
from ._rest import RestClient, RestResponse, collection_path
from ._streams import Anomaly, StreamTracker
from ._token_sources import (
    CommandTokens,
    KeyTokens,
    TokenFactory,
    TokenSource,
    TokenSourceError,
    claims_for,
    forged_hs256,
    token_expiry,
    token_source,
)
from ._tokens import Agent, Org
from ._transcript import Frame, Transcript, elide_tokens

__all__ = [
    "INSECURE_WARNING",
    "SECRET_ENV",
    "TARGET_OPTIONS",
    "Ack",
    "Agent",
    "Anomaly",
    "AnomalyKind",
    "Arrival",
    "CommandTokens",
    "ConnectFailure",
    "ConnectRefused",
    "ConnectionOptions",
    "DisconnectInfo",
    "ErrorInfo",
    "EventMatch",
    "FlushResult",
    "Frame",
    "KeyTokens",
    "MetricFamily",
    "Mutation",
    "MutationQueue",
    "NodeFigures",
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
    "TargetConnection",
    "TargetOption",
    "TaskAnomaly",
    "TaskAnomalyKind",
    "TaskProgress",
    "TaskSequenceError",
    "TokenFactory",
    "TokenSource",
    "TokenSourceError",
    "Transcript",
    "cancel_task",
    "claims_for",
    "collection_path",
    "connection_options",
    "elide_tokens",
    "fetch_info",
    "forged_hs256",
    "get_task",
    "list_tasks",
    "parse_header",
    "parse_metrics",
    "scrape_node",
    "submit_task",
    "sum_figures",
    "target_connection",
    "token_expiry",
    "token_source",
]
