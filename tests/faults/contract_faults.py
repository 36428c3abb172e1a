"""Faults on the side paths (issue 17): what real servers get wrong where the main checks do
not look — one field missing or mistyped in one kind of payload, a periodic gap, an audience
wrong for one action only, an identity claim not compared on refresh, a key space shared
across users, a refused request that wrote its valid part. Each is shown to turn its id to
`fail` by tests/faults/test_contract_faults.py.

Installed by `fault_server.py` beside the per-area modules; kept apart from their `FAULTS` so
that the per-area fault tests (which derive their ids from those names) do not run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fault_switch import broken, patch

from harness.spec import ServerEvent
from reference_server.collab.presence import PresenceService
from reference_server.realtime.fanout import RedactingManager

__all__ = ["FAULTS", "install"]

FAULTS: dict[str, str] = {
    "EVT-3/missing-field": "lead:created events carry the record without its createdAt",
    "AI-3/missing-field": "ai:task:completed lacks its message",
    "COL-2/wrong-type": "presence:list gives each user's connections as a string",
}


def _drop(payload: Any, key: str) -> Any:
    if isinstance(payload, Mapping):
        return {k: v for k, v in payload.items() if k != key}
    return payload


def _payload_faults() -> None:
    def encoding(orig: Any) -> Any:
        def patched(self: RedactingManager, event: str, args: list[Any], namespace: str) -> Any:
            if args and broken("EVT-3/missing-field") and event == "lead:created":
                changes = _drop(args[0].get("changes"), "createdAt")
                args = [{**args[0], "changes": changes}, *args[1:]]
            if args and broken("AI-3/missing-field") and event == ServerEvent.AI_TASK_COMPLETED:
                args = [_drop(args[0], "message"), *args[1:]]
            return orig(self, event, args, namespace)

        return patched

    def listing(orig: Any) -> Any:
        async def patched(self: PresenceService, session: Any, payload: Any) -> Any:
            ack = await orig(self, session, payload)
            if broken("COL-2/wrong-type") and isinstance(ack, dict) and ack.get("ok"):
                online = [{**e, "connections": str(e["connections"])} for e in ack["online"]]
                return {**ack, "online": online}
            return ack

        return patched

    patch(RedactingManager, "_encode", encoding)
    patch(PresenceService, "list", listing)


def install() -> None:
    _payload_faults()
