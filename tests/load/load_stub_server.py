"""A deliberately imperfect server for the load engine's accuracy tests (python-socketio).

It speaks just enough of the spec for `team_sync` over `mutate`: auth, the three streams,
`sync` with replay (STR-2) and `mutate` create/update/archive/restore/delete. Then it lies in
known ways: every live emit waits `--delay-ms` after the event's timestamp (and the events of
even seq `--extra-even-ms` more: the odd ones are a baseline sent by the same process at the
same time), every `--drop-every`-th event is never emitted live, and with `--withhold` the
sync does not replay those either. `GET /stub/dropped` tells the test exactly what it
dropped, and `GET /stub/delays` how long after its wire timestamp each live emit really
started (a timer fires late on a busy machine: that lateness is part of what the stub did,
not an error of the instrument reading it back).

    python tests/load/load_stub_server.py --port 8123 --secret s --delay-ms 20 --drop-every 5 \
        [--extra-even-ms 20] [--withhold]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import socketio
from aiohttp import web

from harness.spec import HEALTH_PATH, INFO_PATH, SPEC_VERSION, Heartbeat, Limits, Op

__all__ = ["STUB_SECRET", "StubServer", "main"]

STUB_SECRET = "load-stub-secret-long-enough-for-hs256"


def _iso(epoch: float) -> str:
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class StubServer:
    def __init__(
        self,
        secret: str,
        delay_ms: float,
        drop_every: int,
        withhold: bool,
        extra_even_ms: float = 0.0,
    ) -> None:
        self.secret = secret
        self.delay_s = delay_ms / 1000.0
        self.extra_even_s = extra_even_ms / 1000.0
        self.drop_every = drop_every
        self.withhold = withhold
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        self.app = web.Application()
        self.sio.attach(self.app)
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.dropped: list[tuple[str, int]] = []
        self.delays: list[tuple[str, int, float]] = []  # stream, seq, seconds after its stamp
        self.sending: set[asyncio.Future[None]] = set()
        self.records: dict[str, dict[str, Any]] = {}
        self.counter = itertools.count(1)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.app.router.add_get(INFO_PATH, self.info)
        self.app.router.add_get(HEALTH_PATH, self.health)
        self.app.router.add_get("/stub/dropped", self.dropped_view)
        self.app.router.add_get("/stub/delays", self.delays_view)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("sync", self.on_sync)
        self.sio.on("mutate", self.on_mutate)

    async def info(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "specVersion": SPEC_VERSION,
                "server": "load-stub/0",
                "node": "stub",
                "profiles": ["core"],
                "heartbeat": Heartbeat().to_json(),
                "limits": Limits().to_json(),
                "sensitiveFields": {},
            }
        )

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def dropped_view(self, _: web.Request) -> web.Response:
        return web.json_response({"dropped": self.dropped})

    async def delays_view(self, _: web.Request) -> web.Response:
        rows = [[stream, seq, seconds * 1000.0] for stream, seq, seconds in self.delays]
        return web.json_response({"delays": rows})

    async def on_connect(self, sid: str, environ: Any, auth: Any) -> bool:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = jwt.decode(str(token), self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise socketio.exceptions.ConnectionRefusedError(
                "Invalid token", {"code": "AUTH_INVALID"}
            ) from None
        streams = (
            f"broker:{claims['brokerId']}",
            f"team:{claims['teamId']}",
            f"user:{claims['sub']}",
        )
        self.sessions[sid] = {"user": claims["sub"], "streams": streams}
        for room in streams:
            await self.sio.enter_room(sid, room)
        return True

    async def on_disconnect(self, sid: str, *_: Any) -> None:
        self.sessions.pop(sid, None)

    async def on_sync(self, sid: str, data: Any) -> dict[str, Any]:
        session = self.sessions[sid]
        cursors = data.get("cursors", {}) if isinstance(data, dict) else {}
        out: dict[str, Any] = {}
        for stream in session["streams"]:
            log = self.logs.get(stream, [])
            cursor = cursors.get(stream)
            replayed = 0
            if isinstance(cursor, int):
                for event in log[cursor:]:
                    if self.withhold and (stream, event["seq"]) in self._dropped_set():
                        continue
                    await self.sio.emit(event["name"], event["payload"], to=sid)
                    replayed += 1
            out[stream] = {"head": len(log), "replayed": replayed}
        return {"ok": True, "streams": out}

    def _dropped_set(self) -> set[tuple[str, int]]:
        return set(self.dropped)

    async def on_mutate(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = self.sessions[sid]
        user, (broker_stream, team_stream, user_stream) = session["user"], session["streams"]
        op = data["op"]
        if op == Op.CREATE.value:
            changes = dict(data.get("changes") or {})
            visibility = changes.get("visibility", "team")
            stream = {"team": team_stream, "broker": broker_stream}.get(visibility, user_stream)
            record = {**changes, "id": str(uuid.uuid4()), "version": 1, "ownerId": user}
            record["stream"] = stream
            self.records[record["id"]] = record
            event_changes: dict[str, Any] = dict(record)
        else:
            found = self.records.get(str(data.get("id")))
            if found is None:
                return {"ok": False, "error": {"code": "NOT_FOUND", "message": "no record"}}
            record = found
            record["version"] += 1
            event_changes = dict(data.get("changes") or {}) if op == Op.UPDATE.value else {}
            if op == Op.DELETE.value:
                self.records.pop(record["id"], None)
        entity_type = str(data.get("entityType"))
        action = Op(op).action.value
        self._publish(record, entity_type, action, event_changes, user)
        public = {k: v for k, v in record.items() if k != "stream"}
        return {"ok": True, "data": public, "duplicate": False}

    def _publish(
        self,
        record: dict[str, Any],
        entity_type: str,
        action: str,
        changes: dict[str, Any],
        actor: str,
    ) -> None:
        stream = record["stream"]
        log = self.logs.setdefault(stream, [])
        payload = {
            "eventId": str(uuid.uuid4()),
            "stream": stream,
            "seq": len(log) + 1,
            "entityType": entity_type,
            "entityId": record["id"],
            "action": action,
            "version": record["version"],
            "changes": changes,
            "actorId": actor,
            "via": "socket",
            "taskId": None,
            "timestamp": _iso(stamped := time.time()),
        }
        event = {"name": f"{entity_type}:{action}", "seq": payload["seq"], "payload": payload}
        log.append(event)
        if self.drop_every and next(self.counter) % self.drop_every == 0:
            self.dropped.append((stream, payload["seq"]))
            return
        # The wire timestamp has millisecond resolution (TRN-4): count the delay from the
        # truncated stamp, so that the delay a client can read back is exactly `delay_s`.
        wire_stamp = int(stamped * 1000) / 1000
        delay_s = self.delay_s + (self.extra_even_s if payload["seq"] % 2 == 0 else 0.0)

        async def send() -> None:
            # When the emit really starts, after the timer and the task's turn on the loop.
            self.delays.append((stream, payload["seq"], time.time() - wire_stamp))
            await self.sio.emit(event["name"], payload, room=stream)

        def start_sending() -> None:
            sending = asyncio.ensure_future(send())
            self.sending.add(sending)  # held until done: the loop keeps weak references only
            sending.add_done_callback(self.sending.discard)

        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, wire_stamp + delay_s - time.time()), start_sending)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--withhold", action="store_true")
    parser.add_argument("--extra-even-ms", type=float, default=0.0)
    args = parser.parse_args()
    stub = StubServer(
        args.secret, args.delay_ms, args.drop_every, args.withhold, args.extra_even_ms
    )
    web.run_app(stub.app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
