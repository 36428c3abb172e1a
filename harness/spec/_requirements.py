"""Every requirement of SPEC.md, by id: generated from the spec text, kept in step by a test."""

from __future__ import annotations

from ._model import Level, Profile, Requirement

__all__ = ["REQUIREMENTS"]

REQUIREMENTS: dict[str, Requirement] = {
    r.id: r
    for r in (
        Requirement(
            "TRN-1",
            1,
            "Transport",
            Profile.CORE,
            Level.MUST,
            "Socket.IO protocol v5 over Engine.IO v4, default namespace `/`, path `/socket.io/`. The "
            "REST API (§4) and Socket.IO are served from the same base URL.",
        ),
        Requirement(
            "TRN-2",
            1,
            "Transport",
            Profile.CORE,
            Level.MUST,
            "The `websocket` transport MUST be supported; `polling` SHOULD be.",
        ),
        Requirement(
            "TRN-3",
            1,
            "Transport",
            Profile.CORE,
            Level.MUST,
            "Heartbeat: the Engine.IO `pingInterval`/`pingTimeout` MUST equal those in the info "
            "document (defaults 10000 ms / 5000 ms). A client that stops answering pings MUST be "
            "disconnected within `pingInterval + pingTimeout + 2000` ms.",
        ),
        Requirement(
            "TRN-4",
            1,
            "Transport",
            Profile.CORE,
            Level.MUST,
            "Every server→client event payload is one JSON object with a `timestamp` field: ISO-8601 "
            "UTC with milliseconds (`2026-11-26T12:00:00.123Z`).",
        ),
        Requirement(
            "TRN-5",
            1,
            "Transport",
            Profile.CORE,
            Level.MUST,
            "Every client→server event in this spec is sent with an acknowledgement callback. The ack "
            'is `{"ok": true, ...}` or `{"ok": false, "error": {"code", "message", "details"?}}` with '
            "a code from §13.",
        ),
        Requirement(
            "INF-1",
            2,
            "Discovery",
            Profile.CORE,
            Level.MUST,
            "`GET /api/v1/realtime/info` (no auth) returns 200 with:\n"
            "\n"
            "```json\n"
            "{\n"
            '  "specVersion": "1.1",\n'
            '  "server": "name/version",\n'
            '  "node": "node-1",\n'
            '  "profiles": ["core", "collab", "ai", "metrics"],\n'
            '  "heartbeat": {"pingInterval": 10000, "pingTimeout": 5000},\n'
            '  "limits": {\n'
            '    "eventsPerSecond": 10, "burst": 20, "floodDisconnectThreshold": 100,\n'
            '    "maxConnectionsPerUser": 5, "maxPayloadBytes": 65536,\n'
            '    "replayWindowEvents": 1000, "replayWindowSeconds": 300,\n'
            '    "idempotencyTtlSeconds": 86400, "editLockTtlSeconds": 300,\n'
            '    "presenceGraceSeconds": 5\n'
            "  },\n"
            '  "sensitiveFields": {\n'
            '    "escrow": ["myCommission", "grossCommission"], "listing": ["listingCommission"],\n'
            '    "client": ["ssnLast4"], "appointment": [], "lead": []\n'
            "  },\n"
            '  "auth": {"algorithms": ["HS256"]}\n'
            "}\n"
            "```",
        ),
        Requirement(
            "INF-2",
            2,
            "Discovery",
            Profile.CORE,
            Level.MUST,
            "The server MUST enforce exactly what it advertises. The values above are the defaults; a "
            "server MAY be configured with others (tests run the reference server with a short "
            "`editLockTtlSeconds`, for instance), and the suite reads them from here.",
        ),
        Requirement(
            "INF-3",
            2,
            "Discovery",
            Profile.CORE,
            Level.MUST,
            '`GET /healthz` returns 200 `{"status": "ok"}` while the node can serve.',
        ),
        Requirement(
            "AUTH-1",
            3,
            "Authentication",
            Profile.CORE,
            Level.MUST,
            "A socket presents its token as `auth.token` in the Socket.IO CONNECT packet, or as "
            "`Authorization: Bearer <jwt>` on the handshake's HTTP request. REST calls use the "
            "header.",
        ),
        Requirement(
            "AUTH-2",
            3,
            "Authentication",
            Profile.CORE,
            Level.MUST,
            'Refusals are CONNECT_ERROR packets `{"message": M, "data": {"code": C}}`: no token → '
            "`Authentication required` / `AUTH_REQUIRED`; bad signature, malformed token, an "
            "algorithm other than the advertised one (`none` included; an HS256 token signed with the "
            "text of an RS256 public key too), or a missing `sub`, `teamId`, `brokerId` or `exp` → "
            "`Invalid token` / `AUTH_INVALID`; expired → `Token expired` / `AUTH_EXPIRED`. REST "
            "answers 401 with the same codes.",
        ),
        Requirement(
            "AUTH-3",
            3,
            "Authentication",
            Profile.CORE,
            Level.MUST,
            'When a connected socket\'s token expires, the server emits `session:expired` `{"code": '
            '"AUTH_EXPIRED", "timestamp"}` and disconnects it within 2 s after `exp`.',
        ),
        Requirement(
            "AUTH-4",
            3,
            "Authentication",
            Profile.CORE,
            Level.MUST,
            '`auth:refresh` `{"token"}` replaces the socket\'s token. The new token must be valid and '
            'carry the same `sub`, `teamId` and `brokerId`; ack `{"ok": true, "exp"}`, else '
            "`AUTH_INVALID`/`AUTH_EXPIRED` and the old token stays in force.",
        ),
        Requirement(
            "REC-1",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            "Visibility decides who may see a record: `team` → users of its `teamId`; `broker` → "
            "users of its `brokerId`; `private` → its owner alone. Every user who can see a record "
            "may update, archive, restore or delete it.",
        ),
        Requirement(
            "REC-2",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            '`POST /api/v1/{collection}` creates; 201 `{"data": record}`. An optional `Idempotency-'
            "Key` header (1–64 chars) makes it idempotent (MUT-2): a repeat returns 200 with the "
            "original record and header `Idempotent-Replayed: true`, and changes nothing.",
        ),
        Requirement(
            "REC-3",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            "`GET /api/v1/{collection}?limit=&offset=&includeArchived=` lists the visible records, "
            'newest first: `{"data": [records], "total": n}`; `limit` 1–200, default 50.',
        ),
        Requirement(
            "REC-4",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            '`GET /api/v1/{collection}/{id}` returns `{"data": record}`. A record that does not exist '
            "and one the caller may not see both answer 404 `NOT_FOUND`, with the same body.",
        ),
        Requirement(
            "REC-5",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            '`PATCH /api/v1/{collection}/{id}` with a JSON object of fields to set returns `{"data": '
            'record}`. With header `If-Match: "<version>"` a stale version answers 409 '
            "`VERSION_CONFLICT` with `details.currentVersion`, and nothing changes.",
        ),
        Requirement(
            "REC-6",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            "`POST .../{id}/archive` and `POST .../{id}/restore` set `archived`; `DELETE .../{id}` "
            "answers 204. Both honour `If-Match`.",
        ),
        Requirement(
            "REC-7",
            4,
            "Records and the REST API",
            Profile.CORE,
            Level.MUST,
            'Errors are `{"error": {"code", "message", "details"?}}`. Unknown field, read-only field, '
            "`visibility` in an update, wrong type or range, missing required field, body not a JSON "
            "object → 400 `VALIDATION_ERROR` naming the field in `details.field`; body over "
            "`maxPayloadBytes` → 413 `PAYLOAD_TOO_LARGE`. A refused request changes nothing and emits "
            "nothing.",
        ),
        Requirement(
            "EVT-1",
            5,
            "Data events",
            Profile.CORE,
            Level.MUST,
            "Audience by visibility: `team` → every socket of every user of `teamId`; `broker` → "
            "every socket of every user of `brokerId`; `private` → every socket of the owner. No "
            "other socket receives it, whatever its broker or team.",
        ),
        Requirement(
            "EVT-2",
            5,
            "Data events",
            Profile.CORE,
            Level.MUST,
            "Each socket in the audience receives the event exactly once live, even when it is in "
            "several matching rooms.",
        ),
        Requirement(
            "EVT-3",
            5,
            "Data events",
            Profile.CORE,
            Level.MUST,
            "`changes`: for `created`, the whole record; for `updated`, exactly the fields the change "
            'set, plus `updatedAt`; for `archived`/`restored`, `{"archived", "updatedAt"}`; for '
            "`deleted`, `{}`. `version` is the record's version after the change.",
        ),
        Requirement(
            "EVT-4",
            5,
            "Data events",
            Profile.CORE,
            Level.MUST,
            "`via` is `api` (REST), `socket` (§8) or `ai` (§11, with `taskId` set).",
        ),
        Requirement(
            "EVT-5",
            5,
            "Data events",
            Profile.CORE,
            Level.MUST,
            "An event is emitted only after its change is stored: a client that receives an event and "
            "then reads the record over REST sees at least that `version`.",
        ),
        Requirement(
            "EVT-6",
            5,
            "Data events",
            Profile.CORE,
            Level.SHOULD,
            "An `updated` event for a one-field change SHOULD serialise to under 2 KiB.",
        ),
        Requirement(
            "RED-1",
            6,
            "Redaction",
            Profile.CORE,
            Level.MUST,
            "In everything a server sends to a user who is not the record's owner — data events, "
            "replayed events, REST responses, the activity feed — each sensitive field (info "
            '`sensitiveFields`) that is present carries the string `"[REDACTED]"` in place of its '
            "value. Fields that are absent stay absent.",
        ),
        Requirement(
            "RED-2",
            6,
            "Redaction",
            Profile.CORE,
            Level.MUST,
            "The owner receives the true values on every path.",
        ),
        Requirement(
            "RED-3",
            6,
            "Redaction",
            Profile.CORE,
            Level.MUST,
            "Redaction is decided per recipient user, not per room: a team broadcast of one change "
            "reaches the owner's sockets unredacted and everyone else's redacted, with the same "
            "`eventId`, `stream` and `seq`.",
        ),
        Requirement(
            "RED-4",
            6,
            "Redaction",
            Profile.CORE,
            Level.MUST,
            "Notifications (§10) and error messages never contain a sensitive value.",
        ),
        Requirement(
            "STR-1",
            7,
            "Streams and replay",
            Profile.CORE,
            Level.MUST,
            "Each durable event carries `eventId`, `stream` and `seq`. Within a stream `seq` starts "
            "at 1 and rises by exactly 1 per event, across all nodes of a cluster: a missing number "
            "is a lost event. Delivery order across nodes may differ; clients reorder by `seq`.",
        ),
        Requirement(
            "STR-2",
            7,
            "Streams and replay",
            Profile.CORE,
            Level.MUST,
            '`sync` `{"cursors": {"team:t1": 17, ...}}` (cursor = last seq the client holds; 0 = '
            "none). The server first emits, for each named stream, every event with `seq` > cursor in "
            "ascending order — the same `eventId`, `seq` and payload as live, redacted for the caller "
            '— and then acks `{"ok": true, "streams": {"team:t1": {"head": 20, "replayed": 3}, ...}}` '
            "with an entry for each of the caller's three streams (`replayed` 0 where not named).",
        ),
        Requirement(
            "STR-3",
            7,
            "Streams and replay",
            Profile.CORE,
            Level.MUST,
            "Replay MUST succeed when `head − cursor ≤ replayWindowEvents` and the event after the "
            'cursor is at most `replayWindowSeconds` old. Otherwise that stream\'s entry is `{"head": '
            'n, "reset": true}`: the client must refetch over REST. A cursor above `head` (the server '
            "lost its log) is also a `reset`; a cursor that is not an integer ≥ 0 is a "
            "`VALIDATION_ERROR`.",
        ),
        Requirement(
            "STR-4",
            7,
            "Streams and replay",
            Profile.CORE,
            Level.MUST,
            "Cursors for a stream that is not one of the caller's three: ack `FORBIDDEN`, and nothing "
            "from any stream is replayed.",
        ),
        Requirement(
            "STR-5",
            7,
            "Streams and replay",
            Profile.CORE,
            Level.MUST,
            "A socket that reconnects and syncs with the cursors it held ends with every seq of its "
            "streams, none twice after deduplication by `eventId`.",
        ),
        Requirement(
            "MUT-1",
            8,
            "Mutations over the socket",
            Profile.CORE,
            Level.MUST,
            "Same rules, validation, visibility and events as REST (§4, §5), with `via: socket`. Ack "
            '`{"ok": true, "data": record, "duplicate": false}` (`{"id"}` for delete) or an error.',
        ),
        Requirement(
            "MUT-2",
            8,
            "Mutations over the socket",
            Profile.CORE,
            Level.MUST,
            "`mutationId` (1–64 chars) and `Idempotency-Key` share one key space per user. A key seen "
            'in the last `idempotencyTtlSeconds` returns the original result with `"duplicate": true` '
            "and changes and emits nothing. Two concurrent requests with one key change the data "
            "once.",
        ),
        Requirement(
            "MUT-3",
            8,
            "Mutations over the socket",
            Profile.CORE,
            Level.MUST,
            "A queue of mutations flushed after a reconnect, once or twice over, leaves each mutation "
            "applied exactly once and each event emitted once.",
        ),
        Requirement(
            "LIM-1",
            9,
            "Limits and bad input",
            Profile.CORE,
            Level.MUST,
            "Rate: each socket may send `eventsPerSecond` events per second with bursts of `burst` (a "
            "token bucket); every client event counts. An event over the limit is not processed; its "
            "ack is `RATE_LIMITED` with `details.retryAfterMs`; the server emits `server:error` "
            '`{"code": "RATE_LIMITED", "message", "retryAfterMs", "timestamp"}` at most once a second '
            "per socket. Other sockets, the sender's own included, are unaffected.",
        ),
        Requirement(
            "LIM-2",
            9,
            "Limits and bad input",
            Profile.CORE,
            Level.MUST,
            "A socket with more than `floodDisconnectThreshold` refused events within 10 s is "
            "disconnected by the server.",
        ),
        Requirement(
            "LIM-3",
            9,
            "Limits and bad input",
            Profile.CORE,
            Level.MUST,
            "At most `maxConnectionsPerUser` sockets per user across the cluster; the next is refused "
            "with `Too many connections` / `TOO_MANY_CONNECTIONS` (AUTH-2 form). When one closes, a "
            "new one is accepted within 2 s.",
        ),
        Requirement(
            "LIM-4",
            9,
            "Limits and bad input",
            Profile.CORE,
            Level.MUST,
            "A client event whose payload exceeds `maxPayloadBytes` is refused with "
            "`PAYLOAD_TOO_LARGE`, or the socket is closed; the server keeps serving others.",
        ),
        Requirement(
            "LIM-5",
            9,
            "Limits and bad input",
            Profile.CORE,
            Level.MUST,
            "A payload of the wrong shape (not an object, a missing or mistyped field) gets "
            "`VALIDATION_ERROR` and changes nothing; an unknown event name with an ack gets "
            "`UNKNOWN_EVENT`. No input makes the server drop other sockets or lose stored data.",
        ),
        Requirement(
            "LIM-6",
            9,
            "Limits and bad input",
            Profile.CORE,
            Level.SHOULD,
            "Overload (SHOULD; measured by load runs, reported informational by the conformance "
            "suite). A node that cannot take another connection without failing the ones it has "
            "refuses new ones with `Server busy` / `SERVER_BUSY` (AUTH-2 form, `data.retryAfterMs` "
            "set), and may answer REST with 503 `SERVER_BUSY` and `Retry-After`, instead of letting "
            "heartbeats, acks or deliveries of connected sockets fail. Nothing stored is lost.",
        ),
        Requirement(
            "COL-1",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            "Presence. When a user goes from 0 to 1 sockets in the cluster, every socket of the "
            'team\'s other users receives `user:presence:online` `{"userId", "name", "teamId", '
            "\"timestamp\"}` (the user's own sockets MAY). When the user's last socket closes and none "
            "opens within `presenceGraceSeconds`, they receive `user:presence:offline` (same shape) "
            "within `presenceGraceSeconds + 2` s. A second tab sends nothing.",
        ),
        Requirement(
            "COL-2",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            '`presence:list` `{}` → `{"ok": true, "online": [{"userId", "name", "connections"}]}`: '
            "the caller's team members online now, the caller included.",
        ),
        Requirement(
            "COL-3",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            'Viewing. `record:view` `{"entityType", "entityId"}` → `{"ok": true, "viewers": '
            '[{"userId", "name"}]}` and joins the record room; a record the caller may not see → '
            "`NOT_FOUND`, nothing joined. Whenever the set of distinct viewing users changes (view, "
            '`record:leave`, disconnect), the room receives `user:viewing` `{"entityType", '
            '"entityId", "viewers", "timestamp"}`.',
        ),
        Requirement(
            "COL-4",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            'Editing locks. `record:edit:start` `{"entityType", "entityId"}` → `{"ok": true, "lock": '
            '{"userId", "name", "expiresAt"}}` when free or already the caller\'s (which refreshes '
            "it), `LOCKED` with the holder in `details` when another user holds it, and `NOT_FOUND` "
            'for a record the caller may not see. The room receives `user:editing` `{"entityType", '
            '"entityId", "userId", "name", "state", "expiresAt"?, "timestamp"}` with `state` '
            "`started` on taking, `stopped` on `record:edit:stop` or the holder's last disconnect, "
            "`expired` after `editLockTtlSeconds` without refresh.",
        ),
        Requirement(
            "COL-5",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            "While a user holds the lock, another user's update, archive, restore or delete of the "
            "record is refused: REST 423 `LOCKED`, mutate ack `LOCKED`; nothing changes.",
        ),
        Requirement(
            "COL-6",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            'Typing. `typing` `{"entityType", "entityId", "state": "start"|"stop"}` → the room, but '
            'not the sender\'s sockets, receives `user:typing` `{"entityType", "entityId", "userId", '
            '"name", "state", "timestamp"}`. Requires the record to be visible.',
        ),
        Requirement(
            "COL-7",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            "Notifications. When a user other than the owner updates, archives, restores or deletes a "
            'record, the owner receives `notification` on their `user:` stream: `{"eventId", '
            '"stream", "seq", "kind": "record.updated"|"record.archived"|"record.restored"| '
            '"record.deleted", "entityType", "entityId", "actorId", "actorName", "message", '
            '"timestamp"}`.',
        ),
        Requirement(
            "COL-8",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            "Activity feed. `GET /api/v1/activity?limit=` (1–100, default 20) returns the data events "
            "of the caller's three streams, newest first, as the caller would have received them "
            '(redacted for them): `{"data": [events]}`.',
        ),
        Requirement(
            "COL-9",
            10,
            "Collaboration (profile `collab`)",
            Profile.COLLAB,
            Level.MUST,
            "A record-room event goes only to sockets in that record's room, never to a socket whose "
            "user may not see the record.",
        ),
        Requirement(
            "AI-1",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            '`POST /api/v1/ai/tasks` `{"type", "params"}` → 202 `{"data": {"taskId", "status": '
            '"queued"}}`. An unknown `type` or `params` not an object → 400; everything else is '
            "checked by the task as it runs.",
        ),
        Requirement(
            "AI-2",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            'Types. `create_escrow` `{"address", "purchasePrice", "stepDelayMs"?}`: five steps '
            "(analyse address, comparables, commission, create record, notify team), then one escrow "
            'exists, owned by the caller; result `{"escrowId"}`. `import_escrows` `{"rows": '
            '[{"address", "purchasePrice"}], "stepDelayMs"?}`: one step per row, each creating one '
            'escrow; result `{"escrowIds"}`. `stepDelayMs` 0–5000, default 300, is the pause per '
            "step.",
        ),
        Requirement(
            "AI-3",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            'Events on the caller\'s `user:` stream: `ai:task:started` `{"taskId", "taskType", '
            '"message"}`, then `ai:task:progress` `{"taskId", "progress", "message", "step", '
            '"totalSteps"}` with integer `progress` 0–100 never decreasing, then exactly one terminal '
            'event — `ai:task:completed` `{"taskId", "result", "message"}`, `ai:task:failed` '
            '`{"taskId", "error": {"code", "message", "details"?}}` or `ai:task:cancelled` '
            '`{"taskId", "message"}` — and nothing after it.',
        ),
        Requirement(
            "AI-4",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            "A row or param that is invalid fails the task when reached, with `VALIDATION_ERROR`; for "
            "`import_escrows`, `details` holds `row` (index) and `created` (ids made before it), and "
            "those records remain.",
        ),
        Requirement(
            "AI-5",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            '`ai:task:cancel` `{"taskId"}` (or `POST /api/v1/ai/tasks/{taskId}/cancel`, 202) stops '
            "the task before its next step; `ai:task:cancelled` follows. Another user's task → "
            "`NOT_FOUND`; a finished one → `TASK_FINISHED`.",
        ),
        Requirement(
            "AI-6",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            'Records made by a task emit ordinary data events with `via: "ai"` and `taskId`.',
        ),
        Requirement(
            "AI-7",
            11,
            "AI tasks (profile `ai`)",
            Profile.AI,
            Level.MUST,
            "`GET /api/v1/ai/tasks` and `GET /api/v1/ai/tasks/{taskId}` give the caller's tasks: "
            '`{"taskId", "type", "status": "queued"|"running"|"completed"|"failed"|"cancelled", '
            '"progress", "result"?, "error"?, "createdAt", "finishedAt"?}`. A task runs on whether or '
            "not its user stays connected.",
        ),
        Requirement(
            "MET-1",
            12,
            "Metrics (profile `metrics`)",
            Profile.METRICS,
            Level.MUST,
            "`GET /metrics` in the Prometheus text format, with at least `crm_realtime_connections` "
            "(gauge), `crm_realtime_events_emitted_total{event}`, "
            "`crm_realtime_events_received_total{event}`, `crm_realtime_rate_limited_total`, "
            "`crm_realtime_replayed_events_total` (counters).",
        ),
        Requirement(
            "CLU-1",
            14,
            "Clusters",
            Profile.CLUSTER,
            Level.MUST,
            "Several nodes that share a cluster backend (the reference server uses Redis) act as one "
            "server: audiences, exactly-once delivery, gapless `seq`, replay, idempotency, presence, "
            "locks and limits hold across nodes, whichever node a socket or a REST call reaches.",
        ),
        Requirement(
            "CLU-2",
            14,
            "Clusters",
            Profile.CORE,
            Level.MUST,
            "(profile `core`; the suite checks it when given a command that restarts the target) A "
            "node that stops and starts again — crash or restart — loses no stored record and no "
            "event inside the replay window: clients that reconnect and sync lose nothing.",
        ),
    )
}
