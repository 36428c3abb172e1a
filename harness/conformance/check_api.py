"""What a check works with: `Crm`, one per test — a fresh synthetic org, clients on the right
nodes, sample records, the quiet period, and the non-strict/info/not-run outcomes.

A check (in `checks/`, or added by a later profile) looks like:

    @pytest.mark.req("EVT-1")
    async def test_team_audience(crm: Crm) -> None:
        actor, mate = crm.org.team_of(2)
        receiver = await crm.client(mate, node=1)        # another node when there are several
        record = await crm.create(crm.rest(actor), "escrow")
        ...
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx
import pytest

from harness.client import (
    Agent,
    Org,
    Pacer,
    RealtimeClient,
    ReceivedEvent,
    RestClient,
    RestResponse,
    TokenSource,
    Transcript,
)
from harness.spec import Limits, data_event_name

from ._model import Outcome
from ._node_view import record_deliveries
from ._target import Target
from .failures import expect
from .outcomes import exercised, not_run, note
from .payload_check import PayloadCheck

__all__ = ["Crm", "expect_created", "is_durable", "is_wire_timestamp", "sample_record"]

_WIRE_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def is_wire_timestamp(value: object) -> bool:
    """TRN-4: ISO-8601 UTC with milliseconds, `2026-11-26T12:00:00.123Z`."""
    return isinstance(value, str) and _WIRE_TIMESTAMP.fullmatch(value) is not None


_SAMPLES: dict[str, dict[str, Any]] = {
    "escrow": {
        "address": "12 Harbor Lane",
        "purchasePrice": 650000,
        "status": "open",
        "myCommission": 9750.25,
        "grossCommission": 19500.5,
    },
    "listing": {"address": "8 Elm Court", "listPrice": 420000, "listingCommission": 12600.75},
    "client": {"name": "Dana Client", "email": "dana@example.test", "ssnLast4": "4821"},
    "appointment": {"title": "Walkthrough", "startsAt": "2026-12-01T15:30:00.000Z"},
    "lead": {"name": "Lee Lead", "source": "web", "score": 40},
}


def is_durable(event: ReceivedEvent) -> bool:
    """A stream event (data, notification, AI task): it has a seq. Presence, viewing and
    other ephemeral events are not, so negative checks about changes ignore them."""
    return event.seq is not None


def sample_record(entity_type: str, **overrides: Any) -> dict[str, Any]:
    """A valid create body for `entity_type` (sensitive fields set where the type has them)."""
    body = dict(_SAMPLES[entity_type])
    body.update(overrides)
    return body


@dataclass
class Crm:
    """Per-test helper; closes every client it opened when the test ends."""

    target: Target
    item: pytest.Item
    org: Org = field(default_factory=Org)
    restart_hook: Callable[[], None] | None = None
    payloads: PayloadCheck | None = None  # validates every payload the clients receive
    # What the clients sent and received, last frames first to go: a failure's evidence.
    transcript: Transcript = field(default_factory=Transcript)
    _clients: list[RealtimeClient] = field(default_factory=list)
    _rests: list[RestClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens: TokenSource = self.target.tokens

    # settings -------------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self.target.limits

    @property
    def quiet(self) -> float:
        """How long a negative check listens for something that must not arrive."""
        return self.target.quiet_s

    def url(self, node: int = 0) -> str:
        return self.target.node(node)

    @property
    def nodes(self) -> int:
        return len(self.target.urls)

    def sensitive(self, entity_type: str) -> tuple[str, ...]:
        return self.target.sensitive_fields.get(entity_type, ())

    # outcomes -------------------------------------------------------------------------------

    def non_strict(self, requirement: str, message: str) -> None:
        """A SHOULD missed: the check goes on; the id's verdict becomes non-strict."""
        note(self.item, requirement, Outcome.NON_STRICT, message)

    def info(self, requirement: str, message: str) -> None:
        """Observed, nothing to judge: the id's verdict is info unless another check judges it."""
        note(self.item, requirement, Outcome.INFO, message)

    def remark(self, requirement: str, message: str) -> None:
        """A pass with a message in the report (e.g. a measured size)."""
        note(self.item, requirement, Outcome.PASSED, message)

    def exercised(self, requirement: str, *paths: str) -> None:
        """Mark (requirement × path) cells of the coverage matrix as driven by this check."""
        exercised(self.item, requirement, *paths)

    def not_run(self, reason: str) -> NoReturn:
        not_run(reason)

    def reset_excuse(self, head: int, cursor: int, first_sent_at: float) -> str | None:
        """Why the target may answer `reset` for a sync whose ack has just arrived (STR-3), or
        None when it had to replay. `first_sent_at` (`time.monotonic()`) is when the request
        that made the event after the cursor was sent: the target judged that event's age
        before its ack arrived, so the age was below the time since then. A check measures
        this after the ack, never before the sync: on a slow machine the sync itself may
        carry the event over the window, and then a reset is right."""
        behind = head - cursor
        if behind > self.limits.replayWindowEvents:
            return f"{behind} events behind, over replayWindowEvents"
        age = time.monotonic() - first_sent_at
        if age >= self.limits.replayWindowSeconds:
            return (
                f"the event after the cursor may have been {age:.1f} s old when judged, over "
                f"replayWindowSeconds ({self.limits.replayWindowSeconds})"
            )
        return None

    def require_wait(self, seconds: float, what: str) -> None:
        """not-run when a timing check would wait longer than the run allows."""
        if seconds > self.target.max_wait_s:
            not_run(
                f"{what} needs a {seconds:.0f} s wait under the advertised settings, over the "
                f"{self.target.max_wait_s:.0f} s allowed (--crm-max-wait)"
            )

    @property
    def can_restart(self) -> bool:
        return bool(self.target.restart_cmd) or self.restart_hook is not None

    async def restart_target(self, timeout_s: float = 60.0) -> None:
        """Restart the target with --crm-restart-cmd, or the in-process hook `run()` got."""
        if self.target.restart_cmd:
            process = await asyncio.create_subprocess_shell(
                self.target.restart_cmd,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
            expect(
                process.returncode == 0,
                "the restart command failed",
                stderr.decode(errors="replace")[-300:],
                observed=process.returncode,
            )
        elif self.restart_hook is not None:
            await asyncio.wait_for(asyncio.to_thread(self.restart_hook), timeout_s)
        else:
            not_run("needs --crm-restart-cmd (a command that restarts the target)")

    # clients --------------------------------------------------------------------------------

    def _listeners(self) -> list[PayloadCheck]:
        return [self.payloads] if self.payloads is not None else []

    def token(self, agent: Agent, **kwargs: Any) -> str:
        return self.tokens.mint(agent, **kwargs)

    def rest(self, agent: Agent | None, *, node: int = 0, token: str | None = None) -> RestClient:
        if token is None and agent is not None:
            token = self.token(agent)
        client = RestClient(
            self.url(node),
            token,
            listeners=self._listeners(),
            options=self.target.options,
            transcript=self.transcript,
        )
        self._rests.append(client)
        return client

    def realtime(
        self,
        agent: Agent | None,
        *,
        node: int = 0,
        token: str | None = None,
        paced: bool = True,
        **kwargs: Any,
    ) -> RealtimeClient:
        """An unconnected client (for refusal checks); closed at the end of the test.

        `paced` keeps its events inside the advertised rate limit, so ordinary checks pass
        on a server configured with tight limits; the rate-limit checks turn it off.
        """
        if token is None and agent is not None:
            token = self.token(agent)
        label = agent.user_id if agent else ""
        pacer = Pacer.below(self.limits.eventsPerSecond, self.limits.burst) if paced else None
        kwargs.setdefault("options", self.target.options)
        kwargs.setdefault("transcript", self.transcript)
        client = RealtimeClient(
            self.url(node), token, label=label, pacer=pacer, listeners=self._listeners(), **kwargs
        )
        self._clients.append(client)
        return client

    async def client(
        self,
        agent: Agent,
        *,
        node: int = 0,
        token: str | None = None,
        from_heads: bool = True,
        **kwargs: Any,
    ) -> RealtimeClient:
        """A connected client; by default it holds its streams from their current heads."""
        client = self.realtime(agent, node=node, token=token, **kwargs)
        failure = await client.try_connect()
        expect(
            failure is None,
            "connection refused",
            f"a valid token for {agent.user_id} could not connect",
            expected="connected",
            observed=failure.message if failure else None,
        )
        if from_heads:
            ack = await client.start_from_heads()
            expect(ack.ok, "sync {} refused", "sync with no cursors must ack ok", observed=ack.raw)
        return client

    def http(self, timeout: float = 5.0) -> httpx.AsyncClient:
        """A raw HTTP client for the target (TLS trust and headers of the run), its traffic in
        the transcript; the caller closes it."""
        options = self.target.options
        return httpx.AsyncClient(
            timeout=timeout,
            headers=options.header_map(),
            verify=options.ssl_context(),
            event_hooks=self.transcript.httpx_hooks(),
        )

    async def clients(self, agents: list[Agent], *, node: int = 1) -> list[RealtimeClient]:
        """Connect several receivers at once (on node `node`, the actor being on 0)."""
        return list(await asyncio.gather(*(self.client(a, node=node) for a in agents)))

    # records --------------------------------------------------------------------------------

    async def create(
        self, rest: RestClient, entity_type: str = "escrow", **fields: Any
    ) -> dict[str, Any]:
        body = sample_record(entity_type, **fields)
        response = await rest.create(entity_type, body)
        expect_created(response, entity_type)
        return response.record

    async def wait_data_event(
        self,
        client: RealtimeClient,
        entity_type: str,
        action: str,
        entity_id: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int = 0,
    ) -> Mapping[str, Any] | None:
        name = data_event_name(entity_type, action)
        event = await client.wait_for(
            lambda e: e.name == name and e.get("entityId") == entity_id, timeout, since=since
        )
        return event.payload if event is not None else None

    async def aclose(self) -> None:
        record_deliveries(self.item, self._clients)
        await asyncio.gather(*(c.disconnect() for c in self._clients), return_exceptions=True)
        await asyncio.gather(*(r.aclose() for r in self._rests), return_exceptions=True)
        if self.payloads is not None:
            self.payloads.attach_to(self.item)


def expect_created(response: RestResponse, entity_type: str) -> None:
    expect(
        response.status == 201 and bool(response.record.get("id")),
        f"creating a {entity_type} failed",
        "POST of a valid body must answer 201 {data: record}",
        expected={"status": 201},
        observed={"status": response.status, "body": response.body},
    )
