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

Names load lazily (as in `harness.rundir`): the load engine's generator processes need only
`Agent` and `TokenFactory`, and importing the Socket.IO client with it (python-socketio,
aiohttp, redis) cost each of them about a second of CPU (issue 13).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness._target_options import SECRET_ENV, TARGET_OPTIONS, TargetOption

from ..stream_accountant import AnomalyKind, Arrival, StreamLedger

if TYPE_CHECKING:
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

# Each private module and the names it exports here.
# Each private module and the names it exports here (as imported above for type checkers).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._ai": ("SubmittedTask", "TaskAnomaly", "TaskAnomalyKind", "TaskProgress",
             "TaskSequenceError", "cancel_task", "get_task", "list_tasks", "submit_task",),
    "._collab": ("PresenceRoster", "PresenceTransition", "RecordPresence",),
    "._connection": ("INSECURE_WARNING", "ConnectionOptions", "TargetConnection",
                     "connection_options", "parse_header", "target_connection",),
    "._discovery": ("fetch_info",),
    "._listeners": ("PayloadListener",),
    "._messages": ("Ack", "ConnectFailure", "ConnectRefused", "DisconnectInfo", "ErrorInfo",
                   "EventMatch", "ReceivedEvent",),
    "._mutations": ("FlushResult", "Mutation", "MutationQueue",),
    "._node_metrics": ("MetricFamily", "NodeFigures", "parse_metrics", "scrape_node",
                       "sum_figures",),
    "._pacing": ("Pacer",),
    "._realtime": ("RealtimeClient",),
    "._rest": ("RestClient", "RestResponse", "collection_path",),
    "._streams": ("Anomaly", "StreamTracker",),
    "._token_sources": ("CommandTokens", "KeyTokens", "TokenFactory", "TokenSource",
                        "TokenSourceError", "claims_for", "forged_hs256", "token_expiry",
                        "token_source",),
    "._tokens": ("Agent", "Org",),
    "._transcript": ("Frame", "Transcript", "elide_tokens",),
}  # fmt: skip
_HOMES = {name: home for home, names in _EXPORTS.items() for name in names}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
