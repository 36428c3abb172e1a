"""Locust user classes the scenarios build on.

A `CrmUser` is one agent: it joins (sockets + joining sync), then alternates think time and
one action until the run's deadline, waits out the drain, does its closing sync and idles
until the controller ends the run. Think time is slept inside the task (Locust's `wait_time`
is 0) so that the deadline can cut it short.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import User, events, task

from harness.spec import ClientEvent, ErrorCode

from .actions import ack_error
from .agent import LoadAgent
from .locust_events import STATE, current_context
from .measure import (
    MEASUREMENTS,
    ActionRecord,
    DeliveryRecord,
    ExtraOp,
    LocalError,
    Record,
    Transport,
)
from .wire_errors import WireError

__all__ = ["CrmUser", "FloodUser", "to_locust_stats"]

_IDLE_S = 3600.0


class _AgentUser(User):
    """A Locust user driving one LoadAgent; it paces itself, so Locust's wait time is 0."""

    abstract = True

    def wait_time(self) -> float:
        return 0.0

    def on_start(self) -> None:
        self.agent = LoadAgent(current_context())
        self.agent.start()

    def on_stop(self) -> None:
        self.agent.stop()


class CrmUser(_AgentUser):
    abstract = True

    def _sleep_until(self, t: float) -> None:
        left = t - time.time()
        if left > 0:
            gevent.sleep(left)

    def _think(self) -> bool:
        """Sleep one think time; False when the deadline came first."""
        ctx = self.agent.ctx
        pause = ctx.rng.expovariate(1.0 / ctx.action_pause_mean())
        deadline = ctx.deadline
        if deadline is None:
            gevent.sleep(pause)
            return True
        self._sleep_until(min(time.time() + pause, deadline))
        return time.time() < deadline

    @task
    def step(self) -> None:
        if self._think():
            self.agent.act()
            return
        ctx = self.agent.ctx
        assert ctx.deadline is not None
        spread = ctx.rng.uniform(0.0, ctx.closing_sync_spread_s())
        self._sleep_until(ctx.deadline + ctx.workload.drain_s + spread)
        self.agent.final_sync()
        gevent.sleep(_IDLE_S)


class FloodUser(_AgentUser):
    """An abusive socket (LIM-1, LIM-2): sends far over the rate limit until the deadline."""

    abstract = True

    def _one(self, sock: Any) -> None:
        t_send = time.time()
        try:
            ack, sent = sock.call(ClientEvent.SYNC, {"cursors": {}}, 5.0)
            error = ack_error(ack)
        except WireError:
            error, sent = LocalError.DISCONNECTED, 0
        self.agent.record_action(
            ExtraOp.FLOOD, Transport.SOCKET, "", "", 0, "", t_send, int(not error), error, sent
        )

    @task
    def flood(self) -> None:
        ctx = self.agent.ctx
        interval = 1.0 / ctx.workload.flood_events_per_s
        while ctx.deadline is None or time.time() < ctx.deadline:
            sock = self.agent.socket
            if sock is None:
                # Disconnected by the server (LIM-2): one `reconnect` row per disconnection.
                gevent.sleep(1.0)
                t_send, code = time.time(), ""
                try:
                    for agent_socket in self.agent.sockets:
                        agent_socket.open()
                except WireError as exc:
                    code = getattr(exc, "code", None) or ErrorCode.INTERNAL.value
                self.agent.record_action(
                    ExtraOp.RECONNECT,
                    Transport.SOCKET,
                    "",
                    "",
                    0,
                    "",
                    t_send,
                    int(not code),
                    code,
                    0,
                )
                continue
            gevent.spawn(self._one, sock)
            gevent.sleep(interval)
        self.agent.final_done = True
        ctx.counters.final_synced += 1  # flooders owe no closing sync; count them as done
        gevent.sleep(_IDLE_S)


def to_locust_stats(record: Record) -> None:
    """Mirror actions and deliveries into Locust's request stats (what `--web` shows)."""
    env = STATE.environment
    if env is None:
        return
    if isinstance(record, ActionRecord):
        env.events.request.fire(
            request_type=record.transport,
            name=record.op,
            response_time=(record.t_ack - record.t_send) * 1000,
            response_length=record.bytes_sent,
            exception=None if record.ok else RuntimeError(record.error_code or "failed"),
            context={},
        )
    elif isinstance(record, DeliveryRecord) and not record.replayed:
        fanout = record.fanout_ms
        env.events.request.fire(
            request_type="receive",
            name=f"{record.scope} event",
            response_time=fanout if fanout == fanout else 0.0,
            response_length=record.bytes,
            exception=None,
            context={},
        )


@events.init.add_listener
def _mirror_into_locust_stats(environment: Any, **_: Any) -> None:
    """Only a run with Locust's web UI shows Locust's request stats: a headless run would
    spend about 6 % of the generator's CPU keeping them for every delivery (issue 13)."""
    if STATE.config.get("web"):
        MEASUREMENTS.add_listener(to_locust_stats)
