"""One simulated CRM user: its sockets (one, sometimes two tabs) and what it does.

Runs inside a gevent greenlet (a Locust user); each socket adds one reader greenlet. Every
measurement leaves through `MEASUREMENTS` (see `measure.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent

from harness.client import TokenSourceError, token_expiry
from harness.spec import ClientEvent, ErrorCode

from .actions import ActionRunner
from .known_records import KnownRecords
from .measure import (
    MEASUREMENTS,
    ActionRecord,
    AnomalyKind,
    AnomalyRecord,
    ExtraOp,
    Transport,
    UserRecord,
)
from .process_context import ProcessContext
from .tracker import SocketTracker
from .wire import CLOSED_BY_CLIENT, LeanSocket
from .wire_errors import ConnectRefused, TokenUnavailable, WireError

__all__ = ["AgentSocket", "LoadAgent"]

_BUSY = ErrorCode.SERVER_BUSY.value
# How long a user keeps coming back when the run has no deadline yet (a tool driving agents
# by hand): the run's end bounds it otherwise.
_BUSY_GIVE_UP_S = 60.0
# A closing sync whose connect timed out or was cut tries again after this.
_REOPEN_PAUSE_S = 1.0


_TOKEN_TTL_S = 4 * 3600  # what our own sources mint: longer than any run
_RENEW_MARGIN_S = 60.0  # re-mint this long before `exp` (a quarter of a short lifetime)


class AgentSocket:
    """A LeanSocket with its tracker; survives reconnects (the tracker keeps its cursors)."""

    __slots__ = ("agent", "node", "sock", "tracker")

    def __init__(self, agent: LoadAgent, socket_id: str, node: int = 0) -> None:
        self.agent = agent
        self.node = node  # index into the run's node URLs
        ctx = agent.ctx
        self.tracker = SocketTracker(
            agent.identity.user_id, socket_id, agent.identity.streams, ctx.owners, ctx.worker, node
        )
        self.sock: LeanSocket | None = None

    def _on_event(self, name: str, payload: Any, t_recv: float, nbytes: int) -> None:
        record = self.tracker.on_event(name, payload, t_recv, nbytes)
        if record is not None and record.entity_id:
            self.agent.learn(payload, replayed=record.replayed == 1)

    def _on_close(self, reason: str) -> None:
        if reason != CLOSED_BY_CLIENT:
            # The server (or the network) ended it: live events stop here until a reconnect.
            self.agent.anomaly(AnomalyKind.DISCONNECT, reason)

    def open(self) -> None:
        ctx = self.agent.ctx
        self.sock = LeanSocket(ctx.node_urls[self.node], self._on_event, ctx.options)
        self.sock.on_close = self._on_close
        self.sock.connect(self.agent.token(), timeout=ctx.workload.ack_timeout_s)

    def sync(self, cursors: dict[str, int], timeout: float | None = None) -> dict[str, Any]:
        """STR-2 sync; events arriving before the ack are replays. Returns the `streams` map.
        `timeout` defaults to the workload's closing-sync timeout."""
        if self.sock is None or not self.sock.connected:
            raise WireError("not connected")
        self.tracker.replaying = bool(cursors)
        try:
            ack, _ = self.sock.call(
                ClientEvent.SYNC,
                {"cursors": cursors},
                timeout=timeout or self.agent.ctx.workload.final_sync_timeout_s,
            )
        finally:
            self.tracker.replaying = False
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise WireError(f"sync refused: {ack!r}")
        streams = ack.get("streams")
        return streams if isinstance(streams, dict) else {}

    def join(self) -> None:
        """Open and learn the heads: the socket owes everything after them."""
        self.open()
        heads = self.sync({})
        self.tracker.start_at(
            {k: v.get("head", 0) for k, v in heads.items() if isinstance(v, dict)}
        )

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


class LoadAgent:
    def __init__(self, ctx: ProcessContext, index: int | None = None) -> None:
        self.ctx = ctx
        self.index = ctx.claim_index() if index is None else index
        self.identity = ctx.agent_for(self.index)
        self.sockets: list[AgentSocket] = []
        self.records = KnownRecords(ctx.owners)
        self.on_data_event: Callable[[dict[str, Any]], None] | None = None
        self._token: str | None = None
        self._token_exp = 0.0
        self._renew_at = 0.0
        self.actions = ActionRunner(self, rng=ctx.rng, workload=ctx.workload, rest=ctx.rest)
        self.final_done = False
        self.refused = 0  # sockets still refused SERVER_BUSY when the user stopped asking

    def token(self) -> str:
        """The user's token: minted once (an RS256 signature or a token command per user, not
        per call) and again shortly before the `exp` it carries (a token command's own).
        A failing source is `TokenUnavailable` (reported once per process): the connect or
        call fails, the user carries on."""
        now = time.time()
        if self._token is not None and now < self._renew_at:
            return self._token
        try:
            token = self.ctx.tokens.mint(self.identity, ttl_seconds=_TOKEN_TTL_S)
        except TokenSourceError as exc:
            self.ctx.report_token_failure(str(exc))
            if self._token is not None and now < self._token_exp:
                return self._token  # renewal failed; the one held is still good
            raise TokenUnavailable(str(exc)) from None
        exp = token_expiry(token) or now + _TOKEN_TTL_S
        self._token, self._token_exp = token, exp
        self._renew_at = exp - min(_RENEW_MARGIN_S, (exp - now) / 4)
        return token

    # -- lifecycle ---------------------------------------------------------------------------

    def _busy_retrying(self, attempt: Callable[[], None], until: float) -> bool:
        """`attempt()` (a connect and what follows it); refused SERVER_BUSY (LIM-6), come back
        after the refusal's retryAfterMs at the least, backing off further with each refusal
        in a row (`BusyBackoff`), for as long as that is before `until`. False when the node
        still refused at the last try; other failures raise."""
        backoff, refusals = self.ctx.workload.busy_backoff(), 0
        while True:
            try:
                attempt()
                return True
            except ConnectRefused as exc:
                self.anomaly(AnomalyKind.CONNECT_REFUSED, exc.code or "")
                if exc.code != _BUSY:
                    raise
                refusals += 1
                wait = backoff.wait_s(exc.retry_after_ms, refusals, self.ctx.rng)
                if time.time() + wait >= until:
                    return False
                gevent.sleep(wait)

    def _run_end(self) -> float:
        deadline = self.ctx.deadline
        return deadline if deadline is not None else time.time() + _BUSY_GIVE_UP_S

    def start(self) -> None:
        tabs = 2 if self.ctx.second_tab(self.index) else 1
        errors = 0
        for n in range(tabs):
            socket_id = f"{self.identity.user_id}#{n + 1}"
            agent_socket = AgentSocket(self, socket_id, self.ctx.node_of(self.index + n))
            try:
                # A user refused past the run's end stays refused: it owes and gets nothing.
                joined = self._busy_retrying(agent_socket.join, self._run_end())
            except WireError as exc:
                errors += 1
                agent_socket.close()
                self.anomaly(AnomalyKind.CONNECT_ERROR, str(exc))
                continue
            if not joined:
                self.refused += 1
                agent_socket.close()
                continue
            self.sockets.append(agent_socket)
        if self.sockets:
            self.ctx.counters.connected_users += 1
        ident = self.identity
        MEASUREMENTS.fire(
            UserRecord(
                ident.user_id,
                ident.team_id,
                ident.broker_id,
                len(self.sockets),
                time.time(),
                errors,
                self.ctx.worker,
                self.refused,
            )
        )

    def stop(self) -> None:
        if self.sockets:
            self.ctx.counters.connected_users -= 1
        for agent_socket in self.sockets:
            agent_socket.close()

    def _reopen(self, agent_socket: AgentSocket, until: float) -> None:
        """Reconnect a dropped socket for its closing sync, as a client would, until `until`:
        refused busy, again after retryAfterMs; a connect that timed out or was cut (a node
        too late to answer), again after a second. Any other refusal raises at once."""
        while True:
            try:
                if self._busy_retrying(agent_socket.open, until):
                    return
                raise ConnectRefused("still refused", _BUSY)
            except ConnectRefused:
                raise
            except WireError:
                if time.time() + _REOPEN_PAUSE_S >= until:
                    raise
                gevent.sleep(_REOPEN_PAUSE_S)

    def final_sync(self) -> None:
        """Closing sync with the cursors held: what it cannot bring back is final loss."""
        if self.final_done:
            return
        self.final_done = True
        for agent_socket in self.sockets:
            # A socket the server dropped reconnects; a busy node (LIM-6) is asked again after
            # its retryAfterMs within the closing sync's time, as a client would.
            # All within the closing sync's timeout: at most half of it to get back in.
            budget = self.ctx.workload.final_sync_timeout_s
            started = time.time()
            heads: dict[str, Any] = {}  # nothing replayed: whatever is missing stays missing
            try:
                if agent_socket.sock is None or not agent_socket.sock.connected:
                    self._reopen(agent_socket, started + budget / 2)
                left = max(_REOPEN_PAUSE_S, started + budget - time.time())
                heads = agent_socket.sync(agent_socket.tracker.cursors(), timeout=left)
            except WireError as exc:
                self.anomaly(AnomalyKind.CONNECT_ERROR, f"closing sync: {exc}")
            agent_socket.tracker.close_out(heads, synced=bool(heads))
            # Done: the socket leaves, so that on a node at its connection budget its slot goes
            # to a user still waiting to make its own closing sync.
            agent_socket.close()
        self.ctx.counters.final_synced += 1

    def reconnect(self, offline_s: float) -> None:
        """Drop every socket, stay away, come back and sync with the cursors held (STR-5)."""
        for agent_socket in self.sockets:
            agent_socket.close()
        gevent.sleep(offline_s)
        for agent_socket in self.sockets:
            t_send = time.time()
            ok, code = 1, ""
            try:
                agent_socket.open()
                agent_socket.sync(agent_socket.tracker.cursors())
            except WireError as exc:
                ok, code = 0, type(exc).__name__
            self.record_action(
                ExtraOp.RECONNECT, Transport.SOCKET, "", "", 0, "", t_send, ok, code, 0
            )

    # -- knowledge of records ------------------------------------------------------------------

    def learn(self, payload: dict[str, Any], *, replayed: bool) -> None:
        """Data events teach the agent which records it may change, and their versions."""
        if self.records.learn(payload) and self.on_data_event is not None and not replayed:
            self.on_data_event(payload)

    # -- actions -------------------------------------------------------------------------------

    @property
    def socket(self) -> LeanSocket | None:
        for agent_socket in self.sockets:
            if agent_socket.sock is not None and agent_socket.sock.connected:
                return agent_socket.sock
        return None

    def act(self) -> None:
        if self.refused and not self.sockets:
            return  # turned away by a busy node (LIM-6): it does not use the CRM this run
        self.actions.run(self.ctx.pick_op())

    def record_action(
        self,
        op: str,
        transport: str,
        entity_type: str,
        entity_id: str,
        version: int,
        scope: str,
        t_send: float,
        ok: int,
        error_code: str,
        bytes_sent: int,
        bytes_received: int = 0,
    ) -> None:
        MEASUREMENTS.fire(
            ActionRecord(
                actor=self.identity.user_id,
                op=op,
                transport=transport,
                entity_type=entity_type,
                entity_id=entity_id,
                version=version,
                scope=scope,
                t_send=t_send,
                t_ack=time.time(),
                ok=ok,
                error_code=error_code,
                bytes_sent=bytes_sent,
                worker=self.ctx.worker,
                bytes_received=bytes_received,
            )
        )

    def anomaly(self, kind: str, detail: str) -> None:
        ident = self.identity.user_id
        record = AnomalyRecord(kind, ident, "", 0, "", detail[:200], self.ctx.worker, time.time())
        MEASUREMENTS.fire(record)
