"""Helpers shared by the cluster tests: sockets spread over nodes, and what they received."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from harness.cli.conform import BUNDLED_HEARTBEAT, BUNDLED_LIMITS
from harness.client import Agent, RealtimeClient, ReceivedEvent, RestClient, TokenFactory
from harness.spec import Heartbeat, Limits

__all__ = [
    "CLUSTER_HEARTBEAT",
    "CLUSTER_LIMITS",
    "CLUSTER_SECRET",
    "Sockets",
    "data_events",
    "eventually",
    "seqs_of",
    "sockets",
]

CLUSTER_SECRET = "cluster-test-secret-of-32-bytes-or-more"
# The conformance suite's short timings, so that its timing checks fit in a test run, and a
# connection limit small enough to reach (LIM-3). The suite reads them all from /info (INF-2).
CLUSTER_LIMITS = Limits(maxConnectionsPerUser=3, **BUNDLED_LIMITS)
CLUSTER_HEARTBEAT = Heartbeat(*BUNDLED_HEARTBEAT)


@dataclass
class Sockets:
    """Connected clients by label, plus a REST client per (agent, node) on demand."""

    tokens: TokenFactory
    stack: AsyncExitStack
    clients: dict[str, RealtimeClient]

    async def open(self, label: str, agent: Agent, url: str) -> RealtimeClient:
        client = RealtimeClient(url, self.tokens.mint(agent), label=label)
        await client.connect()
        self.stack.push_async_callback(client.disconnect)
        self.clients[label] = client
        return client

    async def try_open(self, agent: Agent, url: str) -> str | None:
        """Connect one more socket; None when accepted, else the refusal's code."""
        client = RealtimeClient(url, self.tokens.mint(agent))
        failure = await client.try_connect()
        if failure is None:
            self.stack.push_async_callback(client.disconnect)
            return None
        return failure.code or failure.message

    async def rest(self, agent: Agent, url: str) -> RestClient:
        client = RestClient(url, self.tokens.mint(agent))
        self.stack.push_async_callback(client.aclose)
        return client


@asynccontextmanager
async def sockets(secret: str) -> AsyncIterator[Sockets]:
    async with AsyncExitStack() as stack:
        yield Sockets(TokenFactory(secret), stack, {})


def data_events(client: RealtimeClient, stream: str) -> list[ReceivedEvent]:
    """Durable events of one stream that this client received live or by replay."""
    return [
        e
        for e in client.events
        if isinstance(e.payload, dict) and e.payload.get("stream") == stream
    ]


def seqs_of(events: Sequence[ReceivedEvent]) -> list[int]:
    return sorted(int(e.payload["seq"]) for e in events)


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], within: float, step: float = 0.05
) -> bool:
    """Poll until `condition` holds or `within` seconds pass; the last answer."""
    deadline = time.monotonic() + within
    while True:
        answer = condition()
        result = await answer if not isinstance(answer, bool) else answer
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(step)
